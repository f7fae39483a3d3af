"""Fixtures: the server under test wired to in-process stand-ins, in both protocol eras."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from factory_mcp.config import load_settings
from factory_mcp.deps import Deps, build_deps
from factory_mcp.server import build_server
from factory_mcp.testing import analytics_stub, factory_stub

ERAS = {"legacy": "2025-11-25", "auto": "2026-07-28"}
FACTORY_URL = "http://factory.test"
ANALYTICS_URL = "http://analytics.test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def scenario() -> factory_stub.Scenario:
    return factory_stub.Scenario()


@pytest.fixture
def analytics() -> analytics_stub.AnalyticsScenario:
    return analytics_stub.AnalyticsScenario()


def make_deps(
    scenario: factory_stub.Scenario,
    analytics: analytics_stub.AnalyticsScenario,
    env: dict[str, str] | None = None,
    *,
    real_network: bool = False,
) -> Deps:
    settings = load_settings(
        {
            "FACTORY_API_URL": FACTORY_URL,
            "ANALYTICS_URL": ANALYTICS_URL,
            "ANALYTICS_TOKEN": "analytics-secret",
            **(env or {}),
        }
    )
    return build_deps(
        settings,
        transport=None if real_network else httpx.ASGITransport(factory_stub.build_app(scenario)),
        analytics_transport=httpx.ASGITransport(analytics_stub.build_app(analytics)),
        now=lambda: scenario.now,
        backoff_s=0.01,
    )


@pytest.fixture(params=sorted(ERAS))
def era(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_client(scenario, analytics, era) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    """`async with make_client(env) as client:` a connected MCP client in the era under test."""

    def factory(env: dict[str, str] | None = None, **kwargs: Any) -> Client:
        server: MCPServer = build_server(make_deps(scenario, analytics, env, **kwargs))
        return Client(server, mode=era)

    return factory


@pytest.fixture
async def client(make_client, era) -> AsyncIterator[Client]:  # type: ignore[no-untyped-def]
    async with make_client() as connected:
        assert connected.protocol_version == ERAS[era]
        yield connected


def structured(result: Any) -> dict[str, Any]:
    """The structured content of a successful call, checked against its text copy."""
    assert not result.is_error, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def error_text(result: Any) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text
