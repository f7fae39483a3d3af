"""The HTTP face against a browser-borne attacker: a Host name nobody configured is refused
(DNS rebinding: a page on attacker.example whose name is re-pointed at 127.0.0.1 must not read
the API with the victim's loopback trust), no page can be framed by a site that is not listed,
and a service exposed beyond loopback without a token says so when it starts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from factory_analytics import cli
from factory_analytics.config import AnalyticsConfig, ConfigError, HttpConfig, WidgetConfig
from factory_analytics.store import writes
from factory_analytics.store.db import open_database
from factory_analytics.store.writes import DeviceObservation
from factory_analytics.testing.seed import NOW
from factory_analytics.web.app import create_app
from pydantic import SecretStr

from tests.test_api import call


def get(config: AnalyticsConfig, path: str, host: str | None, peer: str = "127.0.0.1"):
    app = create_app(config, SecretStr("t0ken"), clock=lambda: NOW)
    return call(app, path, peer, {} if host is None else {"Host": host})


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8101",  # the published port, from the host
        "localhost:8101",
        "LOCALHOST",
        "localhost.:8000",
        "[::1]:8000",
        "127.0.0.2",
        "100.101.102.103:8000",  # a tailnet address (listen: all on the tailnet)
        "[fd7a:115c:a1e0::1]",
        "analytics:8000",  # configured: the name the MCP server uses on the stack network
        "analytics.tail1234.ts.net",  # configured pattern: Tailscale Serve keeps the Host
        "ANALYTICS.TAIL1234.TS.NET:443",
    ],
)
def test_allowed_hosts(seeded_config: AnalyticsConfig, host: str) -> None:
    config = seeded_config.model_copy(
        update={"http": HttpConfig(allowed_hosts=["analytics", "*.tail1234.ts.net"])}
    )
    assert get(config, "/api/v1/usage?days=1", host).status_code == 200


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("attacker.example", 421),  # a rebound name, even from a trusted loopback peer
        ("attacker.example:8101", 421),
        ("localhost.attacker.example", 421),
        ("127.0.0.1.nip.io", 421),
        ("tail1234.ts.net.attacker.example", 421),
        ("192.168.1.10:8000", 421),  # a LAN address nobody configured
        ("", 400),
        ("bad host", 400),
        ("[::1", 400),
    ],
)
def test_other_hosts_are_refused_everywhere(
    seeded_config: AnalyticsConfig, host: str, status: int
) -> None:
    config = seeded_config.model_copy(
        update={"http": HttpConfig(allowed_hosts=["analytics", "*.tail1234.ts.net"])}
    )
    for path in ("/api/v1/usage?days=1", "/widget", "/metrics", "/static/widget.js", "/healthz"):
        r = get(config, path, host)
        assert r.status_code == status, path
        error = r.json()["error"]
        assert error["code"] == ("unknown_host" if status == 421 else "invalid_host")
        assert "http.allowed_hosts" in error["message"]
        assert "t0ken" not in r.text
    # a bearer token does not make a rebound page legitimate either
    app = create_app(config, SecretStr("t0ken"), clock=lambda: NOW)
    r = call(app, "/widget", "127.0.0.1", {"Host": host, "Authorization": "Bearer t0ken"})
    assert r.status_code == status


def test_the_tailnets_magicdns_names_are_known_from_the_poll(
    seeded_config: AnalyticsConfig,
) -> None:
    """Reached as https://analytics.<tailnet>.ts.net through Tailscale Serve (which passes the
    Host on): the name is accepted once a tailnet poll has listed it, without configuration;
    other ts.net names are not."""
    conn = open_database(seeded_config.database)
    device = DeviceObservation(
        "nAnalytics", "analytics", "analytics.tail9999.ts.net", "tagged-devices",
        ["tag:analytics"], "linux", ["100.64.9.9"], True, True, None,
    )  # fmt: skip
    writes.write_presence(conn, NOW, [device])
    conn.close()
    assert get(seeded_config, "/widget", "analytics.tail9999.ts.net").status_code == 200
    assert get(seeded_config, "/widget", "evil.tail6666.ts.net").status_code == 421


def test_star_switches_the_check_off(seeded_config: AnalyticsConfig) -> None:
    config = seeded_config.model_copy(update={"http": HttpConfig(allowed_hosts=["*"])})
    assert get(config, "/api/v1/usage?days=1", "anything.example").status_code == 200


def frame_headers(config: AnalyticsConfig, path: str, peer: str = "127.0.0.1") -> tuple:
    r = get(config, path, "127.0.0.1:8101", peer)
    csp = r.headers.get("content-security-policy", "")
    ancestors = next(
        (d.strip() for d in csp.split(";") if d.strip().startswith("frame-ancestors")), None
    )
    return r.status_code, ancestors, r.headers.get("x-frame-options")


@pytest.mark.parametrize(
    ("path", "peer", "status"),
    [
        ("/widget", "127.0.0.1", 200),
        ("/static/widget.js", "127.0.0.1", 200),
        ("/api/v1/usage?days=1", "127.0.0.1", 200),
        ("/metrics", "127.0.0.1", 200),
        ("/healthz", "127.0.0.1", 200),
        ("/nope", "127.0.0.1", 404),
        ("/widget", "203.0.113.9", 401),
    ],
)
def test_only_the_same_origin_may_frame_by_default(
    seeded_config: AnalyticsConfig, path: str, peer: str, status: int
) -> None:
    assert frame_headers(seeded_config, path, peer) == (
        status,
        "frame-ancestors 'self'",
        "SAMEORIGIN",
    )


def test_configured_embedders_may_frame(seeded_config: AnalyticsConfig) -> None:
    widget = WidgetConfig(
        frame_ancestors=["https://factory.tail1234.ts.net", "http://127.0.0.1:8000"]
    )
    config = seeded_config.model_copy(update={"widget": widget})
    status, ancestors, xfo = frame_headers(config, "/widget")
    assert ancestors == (
        "frame-ancestors 'self' https://factory.tail1234.ts.net http://127.0.0.1:8000"
    )
    # X-Frame-Options cannot name another origin; browsers that know frame-ancestors follow it
    assert xfo is None
    assert status == 200


@pytest.mark.parametrize(
    "value",
    ["https://a.example; script-src *", "'unsafe-inline'", "https://a.example/x y", "'none'"],
)
def test_an_embedder_cannot_inject_a_directive(tmp_path: Path, value: str) -> None:
    from factory_analytics.config import load_config

    path = tmp_path / "a.yaml"
    path.write_text("widget:\n  frame_ancestors:\n    - " + _yaml_str(value) + "\n")
    with pytest.raises(ConfigError, match=rf"{path}:3: widget.frame_ancestors.0"):
        load_config(path, environ={})


def _yaml_str(value: str) -> str:
    return '"' + value.replace('"', '\\"') + '"'


def test_allowed_hosts_reject_urls_with_file_and_line(tmp_path: Path) -> None:
    from factory_analytics.config import load_config

    path = tmp_path / "a.yaml"
    path.write_text("http:\n  allowed_hosts:\n    - analytics\n    - https://x.example:8000\n")
    with pytest.raises(ConfigError, match=rf"{path}:4: http.allowed_hosts.1: .*not a host name"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("host", "token", "warned"),
    [
        ("0.0.0.0", None, True),
        ("::", None, True),
        ("192.168.1.5", None, True),
        ("0.0.0.0", "t0ken", False),
        ("127.0.0.1", None, False),
        ("::1", None, False),
        ("localhost", None, False),
    ],
)
def test_serve_warns_when_exposed_without_a_token(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    host: str,
    token: str | None,
    warned: bool,
) -> None:
    """`serve` on a non-loopback address without ANALYTICS_TOKEN: every caller outside
    auth.trusted_networks is refused with no way to authenticate, and everyone inside them
    reads without one; that is a deployment decision worth a loud line at start."""
    import uvicorn

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kw: started.append(kw["host"]))
    monkeypatch.setenv("ANALYTICS_DB", str(tmp_path / "a.db"))
    monkeypatch.delenv("ANALYTICS_TOKEN_FILE", raising=False)
    if token is None:
        monkeypatch.delenv("ANALYTICS_TOKEN", raising=False)
    else:
        monkeypatch.setenv("ANALYTICS_TOKEN", token)
    config = tmp_path / "c.yaml"
    config.write_text("tailnet: {enabled: false}\nsystem: {enabled: false}\n")
    caplog.set_level(logging.INFO)
    assert cli.main(["--config", str(config), "serve", "--host", host, "--port", "1"]) == 0
    assert started == [host]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    exposed = [w for w in warnings if "without a token" in w]
    assert bool(exposed) is warned, warnings
    if warned:
        assert host in exposed[0]
        assert "ANALYTICS_TOKEN" in exposed[0]


def test_the_deployed_configuration_answers_the_stacks_own_callers(tmp_path: Path) -> None:
    """gitops/services/analytics-config.yaml: the MCP server (by the host of its
    ANALYTICS_URL in mcp.yaml) and the host's browser (127.0.0.1:8101 through Docker's
    gateway) get answers, and the widget is not framable by other sites by default."""
    from factory_analytics.config import load_config
    from factory_analytics.web.access import AccessPolicy
    from ruamel.yaml import YAML

    gitops = Path(__file__).parents[2] / "gitops" / "services"
    config = load_config(gitops / "analytics-config.yaml", {"ANALYTICS_DB": str(tmp_path / "a")})
    open_database(config.database).close()
    mcp = YAML(typ="safe").load((gitops / "mcp.yaml").read_text())
    mcp_host = mcp["env"]["ANALYTICS_URL"].split("//", 1)[1]
    policy = AccessPolicy.from_config(config.auth, gateway=lambda: "172.18.0.1")
    app = create_app(config, SecretStr("t0ken"), clock=lambda: NOW, access=policy)
    by_mcp = call(
        app, "/api/v1/sources", "172.18.0.7", {"Host": mcp_host, "Authorization": "Bearer t0ken"}
    )
    assert by_mcp.status_code == 200
    widget = call(app, "/widget", "172.18.0.1", {"Host": "127.0.0.1:8101"})
    assert widget.status_code == 200
    assert widget.headers["x-frame-options"] == "SAMEORIGIN"
    assert call(app, "/widget", "172.18.0.1", {"Host": "rebound.example"}).status_code == 421
