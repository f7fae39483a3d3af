"""One JSON access line per HTTP request, on stderr, for the analytics service.

Why: factory-analytics reads this container's output (gitops/services/analytics-config.yaml,
`format: auto`) to tell who used the MCP server, which endpoints, how fast and how often they
failed. Its JSON-lines parser (analytics/src/factory_analytics/logformats.py, `parse_json`)
takes a line as an access record when it has `method`, `path` and `status`, and reads `ts`,
`duration_ms`, `bytes`, `client_ip` and `user_login` from it; the tool-call lines have none of
the first three, so they are never counted as requests.

What is written, and what never is: the path without its query string (a query can carry
anything), the peer address of the connection, and of all headers only `Tailscale-User-Login`
(the identity Tailscale serve sets after clearing any client copy).
Never the bearer token, cookies, forwarded-for addresses or any other header value.
The line is written when the response has been sent (or the request failed), so refused
requests (401, 421, 403) are counted too: this middleware wraps the bearer check.
"""

from __future__ import annotations

import logging
import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("factory_mcp.access")

LOGIN_HEADER = b"tailscale-user-login"
MAX_LOGIN_CHARS = 256
CLIENT_CLOSED = 499  # nginx's code for a client that went away before the answer


class AccessLog:
    """ASGI middleware: log method, path, status, duration, size, peer and tailnet login."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None
        size = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except anyio.get_cancelled_exc_class():
            status = status or CLIENT_CLOSED
            raise
        except Exception:
            status = status or 500
            raise
        finally:
            log.info(
                "http request",
                extra={
                    "method": scope.get("method", ""),
                    "path": scope.get("path", ""),
                    "status": status or 500,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "bytes": size,
                    "client_ip": _peer(scope),
                    "user_login": _login(scope),
                },
            )


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def _login(scope: Scope) -> str | None:
    """The Tailscale-User-Login header, the only header value ever logged."""
    for key, value in scope.get("headers", []):
        if key == LOGIN_HEADER:
            login = value.decode("latin-1").strip()[:MAX_LOGIN_CHARS]
            return login or None
    return None
