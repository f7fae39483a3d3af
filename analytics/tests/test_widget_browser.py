"""The widget in a real headless Chromium (Debian's, driven by Playwright; no browser
download): it renders without console errors, its numbers are the API's for seeded data, and a
screenshot is saved for people to look at."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from factory_analytics.config import AnalyticsConfig, WidgetConfig

from tests.conftest import serve

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_DIR = Path(
    os.environ.get("ANALYTICS_SCREENSHOT_DIR", Path(__file__).parent / "artifacts")
)
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: `apt-get install -y chromium` (.ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield instance
        instance.close()


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(url)
    page.wait_for_selector("body[data-loaded='true']", timeout=15000)
    return page, problems


def test_widget_renders_and_matches_the_api(browser, api: httpx.Client) -> None:
    base = str(api.base_url).rstrip("/")
    page, problems = _open(browser, f"{base}/widget?days=7")
    usage = api.get("/api/v1/usage?days=7").json()
    endpoints = api.get("/api/v1/endpoints?days=7&top=8").json()
    devices = api.get("/api/v1/devices?days=7").json()
    system = api.get("/api/v1/system?hours=24").json()

    def kpi(name: str) -> str:
        return page.get_attribute(f"#{name}", "data-value")

    assert kpi("kpi-requests") == str(usage["totals"]["requests"])
    assert page.text_content("#kpi-requests") == f"{usage['totals']['requests']:,}"
    assert kpi("kpi-users") == str(usage["totals"]["active_users"])
    assert kpi("kpi-errors") == str(usage["totals"]["server_errors"])
    online = sum(1 for d in devices["devices"] if d["present"] and d["online"])
    assert kpi("kpi-online") == str(online)
    assert float(kpi("kpi-cpu")) == system["now"]["cpu_pct"]

    # one bar per day, each the day's request count
    bars = page.eval_on_selector_all(
        "#usage-chart rect.bar", "els => els.map(e => Number(e.dataset.value))"
    )
    assert bars == [p["requests"] for p in usage["series"]]

    rows = page.eval_on_selector_all(
        "#endpoints tbody tr",
        "els => els.map(e => [e.dataset.method, e.dataset.route, Number(e.dataset.requests)])",
    )
    assert rows == [[e["method"], e["route"], e["requests"]] for e in endpoints["endpoints"]]
    assert "/health-monitoring/uptime/{hostname}" in [r[1] for r in rows]

    nodes = page.eval_on_selector_all(
        "#nodes li", "els => els.map(e => [e.dataset.hostname, e.dataset.uptime])"
    )
    assert [n[0] for n in nodes] == [d["hostname"] for d in devices["devices"]]
    assert [float(n[1]) for n in nodes] == [d["uptime_pct"] for d in devices["devices"]]
    assert "josé-phone" in [n[0] for n in nodes]

    people = page.eval_on_selector_all(
        "#people li[data-user]", "els => els.map(e => [e.dataset.user, Number(e.dataset.requests)])"
    )
    assert people == [[u["user"], u["requests"]] for u in usage["per_user"]]
    assert "josé@example.com" in [p[0] for p in people]

    assert page.locator("#load-chart polyline.cpu").count() >= 1
    assert page.locator("#probes li").count() == 2
    assert page.locator(".error-banner").count() == 0

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "widget.png"), full_page=True)
    assert (SCREENSHOT_DIR / "widget.png").stat().st_size > 10_000
    assert problems == []
    page.close()


def test_widget_hour_window_and_error_banner(browser, api: httpx.Client) -> None:
    base = str(api.base_url).rstrip("/")
    page, problems = _open(browser, f"{base}/widget?hours=24")
    usage = api.get("/api/v1/usage?hours=24").json()
    bars = page.eval_on_selector_all("#usage-chart rect.bar", "els => els.length")
    assert bars == 24
    assert page.get_attribute("#kpi-requests", "data-value") == str(usage["totals"]["requests"])
    assert page.get_attribute(".windows a.active", "data-window") == "hours=24"
    assert problems == []
    page.close()
    # a bad window is reported on the page, not as a broken page
    page, problems = _open(browser, f"{base}/widget?days=999")
    assert "days must be between 1 and 365" in page.text_content(".error-banner")
    page.close()


def test_widget_renders_inside_an_iframe_of_a_configured_embedder(
    browser, seeded_config: AnalyticsConfig
) -> None:
    """The factory's dashboard (another origin), listed in `widget.frame_ancestors`, embeds
    the widget: the CSP lets it frame the page and the widget loads its figures inside."""
    from factory_analytics.testing.seed import NOW
    from factory_analytics.web.app import create_app

    holder: dict[str, str] = {}
    dashboard = _dashboard_embedding_lazy(holder)
    with serve(dashboard) as dashboard_url:
        widget = WidgetConfig(frame_ancestors=[dashboard_url])
        config = seeded_config.model_copy(update={"widget": widget})
        with serve(create_app(config, None, clock=lambda: NOW)) as base:
            holder["src"] = f"{base}/widget?days=7"
            page = browser.new_page(viewport={"width": 900, "height": 700})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(dashboard_url + "/")
            frame = page.frame_locator("#w")
            frame.locator("body[data-loaded='true']").wait_for(timeout=15000)
            usage = httpx.get(f"{base}/api/v1/usage?days=7", timeout=10).json()
            requests = frame.locator("#kpi-requests").get_attribute("data-value")
            assert requests == str(usage["totals"]["requests"])
            assert problems == []
            page.close()


def test_another_origin_cannot_frame_the_widget_by_default(browser, api: httpx.Client) -> None:
    """Without configuration only the widget's own origin may frame it: Chromium refuses to
    render it in a page of another origin (clickjacking, a stranger's page showing figures)."""
    base = str(api.base_url).rstrip("/")
    holder = {"src": f"{base}/widget?days=7"}
    with serve(_dashboard_embedding_lazy(holder)) as dashboard_url:
        page = browser.new_page(viewport={"width": 900, "height": 700})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(dashboard_url + "/")
        page.wait_for_timeout(1500)
        frame = page.frame(url=lambda u: "/widget" in u)
        loaded = frame is not None and frame.locator("body[data-loaded='true']").count() > 0
        assert not loaded
        assert any("frame-ancestors" in p for p in problems), problems
        page.close()


def _dashboard_embedding_lazy(holder: dict[str, str]):
    """Like `_dashboard_embedding`, with the widget's URL read when the page is asked for
    (the widget's server may start after the dashboard's, whose origin it must list)."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    def page(_request):  # type: ignore[no-untyped-def]
        return HTMLResponse(
            '<link rel="icon" href="data:,"><h1>Factory dashboard</h1>'
            f'<iframe id="w" src="{holder["src"]}" width="860" height="600"></iframe>'
        )

    return Starlette(routes=[Route("/", page)])
