"""What the tools need at run time, built in one factory (never at import time).

Why: tests and the bench inject an httpx transport (an in-process stand-in of the factory API)
and a fixed clock; production builds real clients from Settings. Nothing else constructs
clients, so there is one place to read to know what the server talks to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from factory_mcp import __version__
from factory_mcp.config import Settings
from factory_mcp.upstream import Upstream


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    """Upstream clients, settings and the clock shared by every tool."""

    settings: Settings
    factory: Upstream
    analytics: Upstream | None
    now: Callable[[], datetime] = field(default=_utcnow)

    async def aclose(self) -> None:
        await self.factory.client.aclose()
        if self.analytics is not None and self.analytics.client is not self.factory.client:
            await self.analytics.client.aclose()


def build_deps(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    analytics_transport: httpx.AsyncBaseTransport | None = None,
    now: Callable[[], datetime] = _utcnow,
    backoff_s: float = 0.25,
) -> Deps:
    """Real clients for Settings; `transport`s replace the network in tests and the bench."""
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
    user_agent = {"User-Agent": f"factory-mcp/{__version__}"}
    factory_client = httpx.AsyncClient(transport=transport, limits=limits, headers=user_agent)
    factory = Upstream(
        name="factory API",
        base_url=settings.factory_api_url,
        setting="FACTORY_API_URL",
        client=factory_client,
        request_timeout_s=settings.request_timeout_s,
        connect_timeout_s=settings.connect_timeout_s,
        retries=settings.retries,
        backoff_s=backoff_s,
    )
    analytics = None
    if settings.analytics_url:
        headers = {}
        if settings.analytics_token is not None:
            headers["Authorization"] = f"Bearer {settings.analytics_token.get_secret_value()}"
        analytics = Upstream(
            name="analytics service",
            base_url=settings.analytics_url,
            setting="ANALYTICS_URL",
            client=httpx.AsyncClient(
                transport=analytics_transport, limits=limits, headers=user_agent
            ),
            request_timeout_s=min(settings.request_timeout_s, 20.0),
            connect_timeout_s=settings.connect_timeout_s,
            retries=settings.retries,
            backoff_s=backoff_s,
            headers=headers,
        )
    return Deps(settings=settings, factory=factory, analytics=analytics, now=now)
