"""Contract check: the analytics tools read the real factory-analytics app, not just our stand-in.

Runs when the analytics package is installed (it is in the shared test environment): its
FastAPI app on a fresh, migrated database, in-process. An empty database is the case most
likely to break a reader (null figures, empty lists), and every field we read must parse.
"""

from __future__ import annotations

import httpx
import pytest
from mcp import Client
from pydantic import SecretStr

from factory_mcp.server import build_server

from .conftest import make_deps, structured

analytics_app = pytest.importorskip("factory_analytics.web.app")
analytics_config = pytest.importorskip("factory_analytics.config")
analytics_db = pytest.importorskip("factory_analytics.store.db")

pytestmark = pytest.mark.anyio


@pytest.fixture
def real_analytics(tmp_path, scenario) -> httpx.ASGITransport:
    database = tmp_path / "analytics.db"
    analytics_db.open_database(database).close()
    config = analytics_config.AnalyticsConfig(database=database)
    app = analytics_app.create_app(
        config, SecretStr("analytics-secret"), clock=lambda: scenario.now.timestamp()
    )
    return httpx.ASGITransport(app=app)


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("get_usage", {"days": 2}),
        ("get_tailnet_devices", {"days": 7}),
        ("get_endpoint_performance", {"hours": 24}),
    ],
)
async def test_tools_parse_the_real_analytics_api(
    tool, args, scenario, analytics, real_analytics
) -> None:
    deps = make_deps(scenario, analytics)
    assert deps.analytics is not None
    deps.analytics.client = httpx.AsyncClient(transport=real_analytics)
    async with Client(build_server(deps)) as client:
        out = structured(await client.call_tool(tool, args))
    assert out["window"]["end"] == "2026-11-25T11:20:00+01:00"
    assert out["summary"]
