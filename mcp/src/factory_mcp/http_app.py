"""The streamable-HTTP face of the server: /mcp behind a bearer check, plus /healthz, /readyz.

Why our own bearer check instead of the SDK's OAuth resource-server mode: with a static token
the server must answer a plain 401 and publish no OAuth metadata, otherwise Claude Code ignores
its `--header` and starts OAuth discovery (claude-code#59467). The token is compared in
constant time. DNS-rebinding protection checks Host/Origin against the loopback names plus
MCP_ALLOWED_HOSTS. /healthz and /readyz are open (container health checks carry no token), so
they say only ok / ready / not_ready; /readyz adds why (the API's URL, its database error) only
for a caller that sends the token.
Every request, refused or not, leaves one JSON access line on stderr (access_log.py).
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import time
from typing import Any

from factory_common.hosts import is_loopback_host
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from factory_mcp.access_log import AccessLog
from factory_mcp.config import ConfigError, Settings
from factory_mcp.deps import Deps
from factory_mcp.upstream import UpstreamError, deadline_scope

log = logging.getLogger("factory_mcp.http")

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
READY_DEADLINE_S = 5.0  # a readiness probe must answer well within an orchestrator's timeout
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_BINDS = ("0.0.0.0", "::")  # noqa: S104 (names to recognise, not to bind)


def check_bind(settings: Settings, host: str) -> None:
    """Refuse to serve a non-loopback address without a bearer token."""
    if settings.auth_token is None and not is_loopback_host(host):
        raise ConfigError(
            f"refusing to listen on {host} without a bearer token: set MCP_AUTH_TOKEN (or "
            "MCP_AUTH_TOKEN_FILE) to a long random string, e.g. `openssl rand -hex 32`, or bind "
            "to 127.0.0.1"
        )


def transport_security(settings: Settings, host: str) -> TransportSecuritySettings:
    """Host/Origin allow-lists for DNS-rebinding protection."""
    if settings.allowed_hosts == ("*",):
        log.warning("MCP_ALLOWED_HOSTS=* disables DNS-rebinding protection")
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = list(LOOPBACK_NAMES)
    if host not in (*WILDCARD_BINDS, "") and not is_loopback_host(host):
        names.append(f"[{host}]" if ":" in host else host)
    if host in WILDCARD_BINDS:
        names.append(socket.gethostname())
        if not settings.allowed_hosts:
            log.warning(
                "listening on all interfaces; only loopback and the container hostname "
                "are accepted as Host. Set MCP_ALLOWED_HOSTS to the names clients use "
                "(comma-separated, e.g. mcp.example.ts.net,factory-mcp)"
            )
    names.extend(settings.allowed_hosts)
    hosts: list[str] = []
    origins: list[str] = []
    for name in dict.fromkeys(names):
        hosts += [name, f"{name}:*"]
        origins += [f"http://{name}", f"http://{name}:*", f"https://{name}", f"https://{name}:*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class BearerAuth:
    """ASGI middleware: every path but the probes needs `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        supplied = b""
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                scheme, _, credential = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    supplied = credential.strip()
                break
        if supplied and hmac.compare_digest(supplied, self._token):
            await self.app(scope, receive, send)
            return
        reason = "missing bearer token" if not supplied else "wrong bearer token"
        body = json.dumps({"error": "unauthorized", "message": reason}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="factory-mcp"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def add_probes(server: MCPServer, deps: Deps) -> None:
    """/healthz (the process is up) and /readyz (the factory API answers and is ready)."""
    state: dict[str, Any] = {"at": 0.0, "answer": None}

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    token = deps.settings.auth_token

    def shown(status: int, body: dict[str, Any], request: Request) -> JSONResponse:
        """The detail (the API's URL, its database error) only for a caller with the token:
        the probe is open, so anyone who reaches the port would otherwise learn them."""
        if not _has_token(request, token):
            body = {"status": body["status"]}
        return JSONResponse(body, status_code=status)

    @server.custom_route("/readyz", methods=["GET"])
    async def readyz(request: Request) -> JSONResponse:
        if state["answer"] is not None and time.monotonic() - state["at"] < 5:
            status, body = state["answer"]
            return shown(status, body, request)
        try:
            with deadline_scope(READY_DEADLINE_S):
                ready = await deps.factory.get("/ready")
            ok = isinstance(ready, dict) and ready.get("ready") is True
            detail = "ready" if ok else f"not ready: {(ready or {}).get('checks')}"
        except UpstreamError as exc:
            ok, detail = False, str(exc)
        answer = (
            200 if ok else 503,
            {"status": "ready" if ok else "not_ready", "factory_api": detail[:300]},
        )
        state["at"], state["answer"] = time.monotonic(), answer
        return shown(answer[0], answer[1], request)


def _has_token(request: Request, token: SecretStr | None) -> bool:
    """Whether the request carries the server's bearer token (constant-time comparison)."""
    if token is None:
        return False
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    supplied = credential.strip().encode()
    return (
        scheme.lower() == "bearer"
        and bool(supplied)
        and hmac.compare_digest(supplied, token.get_secret_value().encode())
    )


def build_http_app(
    server: MCPServer,
    deps: Deps,
    *,
    host: str = "127.0.0.1",
    stateless: bool = False,
    json_response: bool = True,
) -> ASGIApp:
    """The ASGI app to serve: /mcp (streamable HTTP, no SSE endpoint), /healthz, /readyz,
    behind the bearer check and the access log."""
    settings = deps.settings
    check_bind(settings, host)
    add_probes(server, deps)
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=stateless,
        json_response=json_response,
        transport_security=transport_security(settings, host),
        host=host,
    )
    if settings.auth_token is not None:
        app = BearerAuth(app, settings.auth_token.get_secret_value())
    return AccessLog(app)  # outermost, so refused requests are logged too
