"""Headers every response carries: who may frame it, and what its pages may load.

Why on every response, not only /widget: any page or answer of this service framed by another
site can be used for clickjacking or to show a user's figures in a stranger's page. By default
only the service's own origin may frame it (`frame-ancestors 'self'`, and `X-Frame-Options:
SAMEORIGIN` for browsers that know only that). `widget.frame_ancestors` adds embedders (the
factory's dashboard); X-Frame-Options cannot name another origin, so it is left out then and
the CSP decides (browsers that know `frame-ancestors` ignore X-Frame-Options anyway).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from factory_analytics.config import WidgetConfig

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]
]


def security_headers(widget: WidgetConfig) -> list[tuple[bytes, bytes]]:
    ancestors = " ".join(["'self'", *widget.frame_ancestors])
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        f" connect-src 'self'; frame-ancestors {ancestors}"
    )
    headers = [
        (b"content-security-policy", csp.encode("ascii")),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if not widget.frame_ancestors:
        headers.append((b"x-frame-options", b"SAMEORIGIN"))
    return headers


class SecurityHeaders:
    """ASGI middleware: add `security_headers` to every HTTP response (errors included)."""

    def __init__(self, app: ASGIApp, widget: WidgetConfig) -> None:
        self.app = app
        self.headers = security_headers(widget)
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in self.names
                ]
                message["headers"] = kept + self.headers
            await send(message)

        await self.app(scope, receive, with_headers)
