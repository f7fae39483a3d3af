"""Who may read: clients in `auth.trusted_networks` (default loopback and the tailnet), or
anyone with the bearer token (API.md, Auth).

Which address is "the client" is `access.AccessPolicy`'s decision: the socket peer, or behind
a configured trusted proxy the forwarded client. Uvicorn runs with its own proxy-header
handling off, so nothing rewrites the peer before this middleware sees it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import SecretStr

from factory_analytics.web.access import AccessPolicy

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]
]

OPEN_PATHS = frozenset({"/healthz"})


def check(
    headers: list[tuple[str, str]],
    peer: str | None,
    token: SecretStr | None,
    policy: AccessPolicy,
) -> str | None:
    """None when allowed, else the reason for a 401. `headers` are (lower-case name, value)."""
    supplied = next((v for k, v in headers if k == "authorization"), None)
    if supplied is not None:
        scheme, _, value = supplied.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return "the Authorization header must be 'Bearer <token>'"
        if token is None:
            return (
                "this service has no token configured (ANALYTICS_TOKEN);"
                " call it from a network in auth.trusted_networks"
            )
        if hmac.compare_digest(value.strip().encode(), token.get_secret_value().encode()):
            return None
        return "the bearer token is wrong"
    client = policy.client(peer, [v for k, v in headers if k == "x-forwarded-for"])
    if policy.is_trusted(client):
        return None
    where = "an unknown address" if client is None else str(client)
    return (
        f"a bearer token is required: the request comes from {where}, which is not in"
        " auth.trusted_networks (loopback and the tailnet by default)"
    )


class AuthMiddleware:
    """ASGI middleware applying `check` to every path but /healthz."""

    def __init__(self, app: ASGIApp, token: SecretStr | None, policy: AccessPolicy) -> None:
        self.app = app
        self.token = token
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        client = scope.get("client")
        reason = check(headers, client[0] if client else None, self.token, self.policy)
        if reason is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": {"code": "unauthorized", "message": reason}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="factory-analytics"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
