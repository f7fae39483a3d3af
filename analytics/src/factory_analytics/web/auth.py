"""Who may read: loopback and tailnet peers, or anyone with the bearer token (API.md, Auth).

Only the socket peer counts. Forwarding headers are client input and were exactly how the
factory's own middleware could be fooled (shared/factory-infra-history.md), so they are never
read here. Uvicorn is started with proxy headers off for the same reason.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import SecretStr

from factory_analytics.identity import is_tailnet_address

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]
]

OPEN_PATHS = frozenset({"/healthz"})


def is_trusted_peer(host: str | None) -> bool:
    """Loopback or tailnet: allowed without a token."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or is_tailnet_address(str(address))


def check(headers: dict[str, str], peer: str | None, token: SecretStr | None) -> str | None:
    """None when allowed, else the reason for a 401."""
    supplied = headers.get("authorization")
    if supplied is not None:
        scheme, _, value = supplied.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return "the Authorization header must be 'Bearer <token>'"
        if token is None:
            return (
                "this service has no token configured (ANALYTICS_TOKEN);"
                " call it from loopback or the tailnet"
            )
        if hmac.compare_digest(value.strip().encode(), token.get_secret_value().encode()):
            return None
        return "the bearer token is wrong"
    if is_trusted_peer(peer):
        return None
    return "a bearer token is required from this address (loopback and tailnet addresses need none)"


class AuthMiddleware:
    """ASGI middleware applying `check` to every path but /healthz."""

    def __init__(self, app: ASGIApp, token: SecretStr | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        reason = check(headers, client[0] if client else None, self.token)
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
