"""The FastAPI application: routes of API.md, one error shape, auth, and the widget.

Reads only: every answer comes from `store.queries`/`store.state_queries` on a per-thread
read connection, so a slow query never blocks a collector's write.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from factory_analytics import __version__
from factory_analytics.config import AnalyticsConfig
from factory_analytics.store import queries, state_queries
from factory_analytics.store.db import connect
from factory_analytics.timeutil import now as wall_clock
from factory_analytics.web.access import AccessPolicy
from factory_analytics.web.auth import AuthMiddleware
from factory_analytics.web.framing import SecurityHeaders
from factory_analytics.web.hosts import HostCheck, HostPolicy, MagicDnsNames
from factory_analytics.web.metrics import render_metrics
from factory_analytics.window import Window, WindowError, make_window

log = logging.getLogger("factory_analytics.web")

STATIC_FILES = {
    "widget.js": "text/javascript; charset=utf-8",
    "widget.css": "text/css; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint


def error_response(status: int, code: str, message: str, hint: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if hint:
        body["hint"] = hint
    return JSONResponse({"error": body}, status_code=status)


class _Connections(threading.local):
    conn: sqlite3.Connection | None = None


def create_app(
    config: AnalyticsConfig,
    token: SecretStr | None,
    clock: Callable[[], float] = wall_clock,
    access: AccessPolicy | None = None,
) -> FastAPI:
    """The app of one configuration. `access` defaults to the configuration's `auth` section
    (resolving `docker-gateway` from this process's routes); tests pass their own."""
    policy = access if access is not None else AccessPolicy.from_config(config.auth)
    app = FastAPI(
        title="factory-analytics",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    local = _Connections()
    db_path = Path(config.database)
    declared_probes = [p.as_api() for p in config.probes]

    def db() -> sqlite3.Connection:
        if local.conn is None:
            local.conn = connect(db_path)
        return local.conn

    def window(
        request: Request, *, default_days: int | None = None, default_hours: int | None = None
    ) -> Window:
        days = _int_param(request, "days", "invalid_window")
        hours = _int_param(request, "hours", "invalid_window")
        try:
            return make_window(
                days, hours, clock(), default_days=default_days, default_hours=default_hours
            )
        except WindowError as exc:
            raise ApiError(
                400, "invalid_window", str(exc), f"e.g. {request.url.path}?days=7 or ?hours=24"
            ) from exc

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.hint)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, "not_found", "no such path; see analytics/API.md")
        if exc.status_code == 405:
            return error_response(405, "method_not_allowed", "only GET is served")
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(sqlite3.Error)
    async def _db_error(_: Request, exc: sqlite3.Error) -> JSONResponse:
        log.error("database error: %s", exc)
        local.conn = None
        return error_response(503, "database_unavailable", f"the database cannot be read: {exc}")

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal", "internal error; see the service log")

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            db().execute("SELECT 1 FROM sources LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            local.conn = None
            return JSONResponse({"status": "degraded", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    @app.get("/api/v1/usage")
    def usage(request: Request) -> dict[str, Any]:
        w = window(request, default_days=7)
        return queries.usage(db(), w, _top(request, 10, 100))

    @app.get("/api/v1/endpoints")
    def endpoints(request: Request) -> dict[str, Any]:
        w = window(request, default_days=7)
        top = _top(request, 50, 500)
        source = request.query_params.get("source")
        source_id = None
        if source is not None:
            source_id = queries.source_id(db(), source)
            if source_id is None:
                raise ApiError(
                    400,
                    "invalid_parameter",
                    f"source: no log source named {source!r}",
                    "see /api/v1/sources for the names",
                )
        return queries.endpoints(db(), w, top, source_id)

    @app.get("/api/v1/devices")
    def devices(request: Request) -> dict[str, Any]:
        w = window(request, default_days=7)
        return state_queries.devices(db(), w, config.tailnet.interval_seconds)

    @app.get("/api/v1/system")
    def system(request: Request) -> dict[str, Any]:
        return state_queries.system(db(), window(request, default_hours=24))

    @app.get("/api/v1/probes")
    def probes(request: Request) -> dict[str, Any]:
        w = window(request, default_hours=24)
        return state_queries.probes(db(), w, declared_probes)

    @app.get("/api/v1/sources")
    def sources() -> dict[str, Any]:
        return queries.sources(db())

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(
            render_metrics(db()), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @app.get("/widget")
    def widget() -> Response:
        html = resources.files("factory_analytics.web").joinpath("static/widget.html").read_text()
        return Response(
            html,
            media_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        media = STATIC_FILES.get(name)
        if media is None:
            raise StarletteHTTPException(404)
        body = resources.files("factory_analytics.web").joinpath(f"static/{name}").read_bytes()
        return Response(body, media_type=media, headers={"Cache-Control": "max-age=300"})

    # outermost last: headers on every answer, then the Host check, then auth
    app.add_middleware(AuthMiddleware, token=token, policy=policy)
    app.add_middleware(HostCheck, policy=HostPolicy(config.http, MagicDnsNames(db_path)))
    app.add_middleware(SecurityHeaders, widget=config.widget)
    return app


def _top(request: Request, default: int, high: int) -> int:
    value = _int_param(request, "top", "invalid_parameter", default=default, low=1, high=high)
    return default if value is None else value


def _int_param(
    request: Request,
    name: str,
    code: str,
    *,
    default: int | None = None,
    low: int | None = None,
    high: int | None = None,
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, code, f"{name} must be an integer, got {raw!r}") from None
    if low is not None and high is not None and not low <= value <= high:
        raise ApiError(400, code, f"{name} must be between {low} and {high}, got {value}")
    return value
