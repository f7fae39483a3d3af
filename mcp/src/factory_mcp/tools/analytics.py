"""Analytics tools: usage, tailnet devices, endpoint performance (analytics/API.md v1).

Why summaries: the analytics API returns zero-filled series per day or hour and per-device
history; the model needs "who, how much, what is slow" first. Series are dropped unless asked
for, lists are capped by `top`, and the window actually used is always echoed. Timestamps
(RFC 3339 UTC) are given with their offset in Madrid time like every other tool.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from factory_mcp.deps import Deps
from factory_mcp.fanout import Source, describe, fan_out
from factory_mcp.paging import fit_items
from factory_mcp.runner import ToolRunner
from factory_mcp.timeutil import TimestampError, from_aware, iso
from factory_mcp.tools.common import Out, SourceProblem, read_only
from factory_mcp.upstream import Upstream, UpstreamError

Days = Annotated[int | None, Field(ge=1, le=365, description="Last N UTC days")]
Hours = Annotated[int | None, Field(ge=1, le=8760, description="Last N hours (not with days)")]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WindowIn(_Loose):
    from_: str = Field(alias="from")
    to: str
    days: int | None = None
    hours: int | None = None


class Window(Out):
    start: str
    end: str
    days: int | None
    hours: int | None


class UserUsage(Out):
    user: str
    requests: int
    devices: list[str]
    last_active_hour: str | None


class EndpointShare(Out):
    method: str
    route: str
    requests: int
    share_pct: float | None


class Usage(Out):
    summary: str
    window: Window
    requests: int
    active_users: int
    active_devices: int
    anonymous_requests: int
    client_errors: int
    server_errors: int
    per_user: list[UserUsage]
    top_endpoints: list[EndpointShare]
    busiest_period: str | None
    omitted: int = 0


class Device(Out):
    hostname: str
    user: str | None
    online: bool
    present: bool
    last_seen: str | None
    tags: list[str]
    os: str | None
    uptime_pct: float | None


class Devices(Out):
    summary: str
    window: Window
    online: int
    offline: int
    last_poll: str | None
    poll_error: str | None
    devices: list[Device]
    omitted: int


class EndpointPerf(Out):
    method: str
    route: str
    requests: int
    error_rate_pct: float | None
    client_errors: int
    server_errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class Probe(Out):
    name: str
    ok: bool | None
    last_error: str | None
    success_rate_pct: float | None
    p95_ms: float | None


class Performance(Out):
    summary: str
    complete: bool
    unavailable_sources: list[SourceProblem]
    window: Window
    endpoints: list[EndpointPerf]
    probes: list[Probe]
    omitted: int


def _client(deps: Deps) -> Upstream:
    if deps.analytics is None:
        raise ToolError(
            "Analytics is not configured on this MCP server: set ANALYTICS_URL (for example "
            "http://factory-analytics:8000) and ANALYTICS_TOKEN, then restart it."
        )
    return deps.analytics


def _params(days: int | None, hours: int | None, **extra: Any) -> dict[str, Any]:
    if days is not None and hours is not None:
        raise ToolError("Give either days or hours, not both (e.g. days=7 or hours=24).")
    params = {"days": days} if days is not None else {}
    if hours is not None:
        params = {"hours": hours}
    params.update({k: v for k, v in extra.items() if v is not None})
    return params


def _t(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        return iso(from_aware(text))
    except TimestampError:
        return None


def _window(body: dict[str, Any]) -> Window:
    try:
        w = WindowIn.model_validate(body.get("window"))
    except ValidationError:
        raise UpstreamError(
            "The analytics service's answer has no valid `window`; check that "
            "ANALYTICS_URL points at factory-analytics (API v1)."
        ) from None
    return Window(start=_t(w.from_) or w.from_, end=_t(w.to) or w.to, days=w.days, hours=w.hours)


def _dict(body: Any, path: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise UpstreamError(f"The analytics service answered {path} with an unexpected shape.")
    return body


async def usage(deps: Deps, days: int | None, hours: int | None, top: int) -> Usage:
    body = _dict(
        await _client(deps).get(
            "/api/v1/usage",
            _params(days, hours, top=top),
            hint="days 1-365 or hours 1-8760, top 1-100.",
        ),
        "/api/v1/usage",
    )
    totals = body.get("totals") or {}
    series = [s for s in body.get("series") or [] if isinstance(s, dict)]
    busiest = max(series, key=lambda s: s.get("requests", 0), default=None)
    users = [
        UserUsage(
            user=str(u.get("user")),
            requests=int(u.get("requests", 0)),
            devices=[str(d) for d in u.get("devices") or []][:10],
            last_active_hour=_t(u.get("last_active_hour")),
        )
        for u in body.get("per_user") or []
        if isinstance(u, dict)
    ]
    routes = [
        EndpointShare(
            method=str(e.get("method")),
            route=str(e.get("route")),
            requests=int(e.get("requests", 0)),
            share_pct=e.get("share_pct"),
        )
        for e in body.get("top_endpoints") or []
        if isinstance(e, dict)
    ]
    window = _window(body)
    who = ", ".join(f"{u.user} ({u.requests})" for u in users[:3]) or "nobody identified"
    summary = (
        f"{totals.get('requests', 0)} requests from {totals.get('active_users', 0)} users "
        f"on {totals.get('active_devices', 0)} devices between {window.start} and "
        f"{window.end}; top users: {who}."
    )

    def build(count: int, omitted: int) -> Usage:
        return Usage(
            summary=summary,
            window=window,
            requests=int(totals.get("requests", 0)),
            active_users=int(totals.get("active_users", 0)),
            active_devices=int(totals.get("active_devices", 0)),
            anonymous_requests=int(totals.get("anonymous_requests", 0)),
            client_errors=int(totals.get("client_errors", 0)),
            server_errors=int(totals.get("server_errors", 0)),
            per_user=users[:count],
            top_endpoints=routes[:count],
            busiest_period=(
                _t(busiest.get("start")) if busiest and busiest.get("requests") else None
            ),
            omitted=omitted,
        )

    longest = max(len(users), len(routes))
    return fit_items(list(range(longest)), lambda items, omitted: build(len(items), omitted))


async def devices(deps: Deps, days: int | None, online_only: bool) -> Devices:
    body = _dict(
        await _client(deps).get("/api/v1/devices", _params(days, None), hint="days 1-365."),
        "/api/v1/devices",
    )
    listed = [
        Device(
            hostname=str(d.get("hostname")),
            user=d.get("user"),
            online=bool(d.get("online")),
            present=bool(d.get("present", True)),
            last_seen=_t(d.get("last_seen")),
            tags=[str(t) for t in d.get("tags") or []],
            os=d.get("os"),
            uptime_pct=d.get("uptime_pct"),
        )
        for d in body.get("devices") or []
        if isinstance(d, dict)
    ]
    online = sum(d.online for d in listed)
    poll = body.get("poll") or {}
    shown = [d for d in listed if d.online] if online_only else listed
    window = _window(body)
    summary = f"{online} of {len(listed)} tailnet devices online"
    offline = [d.hostname for d in listed if not d.online and d.present]
    summary += f"; offline: {', '.join(offline[:10])}." if offline else "."
    if poll.get("last_error"):
        summary += (
            f" The last tailnet poll failed ({str(poll['last_error'])[:120]}); data may be old."
        )

    def build(items: list[Device], omitted: int) -> Devices:
        return Devices(
            summary=summary,
            window=window,
            online=online,
            offline=len(listed) - online,
            last_poll=_t(poll.get("last_success")),
            poll_error=(str(poll["last_error"])[:200] if poll.get("last_error") else None),
            devices=items,
            omitted=omitted,
        )

    return fit_items(shown, build)


async def performance(deps: Deps, days: int | None, hours: int | None, top: int) -> Performance:
    client = _client(deps)
    params = _params(days, hours)

    def read(path: str, extra: dict[str, Any]) -> Source:
        async def fetch() -> dict[str, Any]:
            hint = "days 1-365 or hours 1-8760, top 1-500."
            return _dict(await client.get(path, {**params, **extra}, hint=hint), path)

        return Source(f"GET {client.url(path)}", fetch)

    got, failed = await fan_out(
        {
            "endpoints": read("/api/v1/endpoints", {"top": top}),
            "probes": read("/api/v1/probes", {}),
        },
        deps.settings.source_deadline_s,
    )
    if "endpoints" in failed:
        # Without routes there is nothing to report; the probes alone would mislead.
        raise UpstreamError(
            " ".join(f.message for _, f in sorted(failed.items())),
            endpoint=failed["endpoints"].endpoint,
            reason=failed["endpoints"].reason,
        )
    got.setdefault("probes", {})
    unavailable = [
        SourceProblem(source=k, endpoint=f.endpoint, reason=f.reason, problem=f.message[:300])
        for k, f in failed.items()
    ]
    endpoints = []
    for e in got["endpoints"].get("endpoints") or []:
        if not isinstance(e, dict):
            continue
        lat = e.get("latency_ms") or {}
        endpoints.append(
            EndpointPerf(
                method=str(e.get("method")),
                route=str(e.get("route")),
                requests=int(e.get("requests", 0)),
                error_rate_pct=e.get("error_rate_pct"),
                client_errors=int(e.get("client_errors", 0)),
                server_errors=int(e.get("server_errors", 0)),
                p50_ms=lat.get("p50"),
                p95_ms=lat.get("p95"),
                p99_ms=lat.get("p99"),
                max_ms=lat.get("max"),
            )
        )
    probes = []
    for p in got["probes"].get("probes") or []:
        if not isinstance(p, dict):
            continue
        last = p.get("last") or {}
        probes.append(
            Probe(
                name=str(p.get("name")),
                ok=last.get("ok") if last else None,
                last_error=last.get("error") if last else None,
                success_rate_pct=p.get("success_rate_pct"),
                p95_ms=(p.get("latency_ms") or {}).get("p95"),
            )
        )
    window = _window(got["endpoints"])
    slow = max(
        (e for e in endpoints if e.p95_ms is not None), key=lambda e: e.p95_ms or 0, default=None
    )
    erring = max(endpoints, key=lambda e: e.error_rate_pct or 0, default=None)
    failing = [p.name for p in probes if p.ok is False]
    summary = f"{len(endpoints)} routes between {window.start} and {window.end}"
    if slow:
        summary += f"; slowest p95: {slow.method} {slow.route} {slow.p95_ms} ms"
    if erring and erring.error_rate_pct:
        summary += f"; highest error rate: {erring.route} {erring.error_rate_pct} %"
    if unavailable:
        summary += f"; INCOMPLETE: probes not read ({describe(failed)})."
    else:
        summary += f"; failing probes: {', '.join(failing)}." if failing else "; all probes ok."

    def build(items: list[EndpointPerf], omitted: int) -> Performance:
        return Performance(
            summary=summary,
            complete=not unavailable,
            unavailable_sources=unavailable,
            window=window,
            endpoints=items,
            probes=probes[:20],
            omitted=omitted,
        )

    return fit_items(endpoints, build)


def register(server: MCPServer, deps: Deps, runner: ToolRunner) -> None:
    @server.tool(
        name="get_usage",
        annotations=read_only("Usage"),
        description=(
            "Who used the factory (tailnet users, devices), how often (requests, 4xx/5xx), "
            "which endpoints, over the last N UTC days or hours. "
            'Use for \'who used the system yesterday?\'. Example: {"days": 2} or {"hours": 24}.'
        ),
    )
    async def get_usage(
        days: Days = None,
        hours: Hours = None,
        top: Annotated[int, Field(ge=1, le=100, description="Max users and endpoints")] = 10,
    ) -> Annotated[CallToolResult, Usage]:
        return await runner.run(
            "get_usage", lambda: usage(deps, days if days or hours else 7, hours, top)
        )

    @server.tool(
        name="get_tailnet_devices",
        annotations=read_only("Tailnet devices"),
        description=(
            "Tailnet devices: online or not, last seen, owner, tags, OS, uptime % over the last "
            "N days. Use for 'is the factory server online?' or 'which devices are "
            'offline?\'. Example: {"days": 7, "online_only": false}.'
        ),
    )
    async def get_tailnet_devices(
        days: Annotated[int, Field(ge=1, le=365, description="Uptime window in days")] = 7,
        online_only: Annotated[bool, Field(description="List online devices only")] = False,
    ) -> Annotated[CallToolResult, Devices]:
        return await runner.run("get_tailnet_devices", lambda: devices(deps, days, online_only))

    @server.tool(
        name="get_endpoint_performance",
        annotations=read_only("Endpoint performance"),
        description=(
            "Latency percentiles (p50/p95/p99, ms) and error rates (% 5xx) per factory API "
            "route, and probe results, over the last N days or hours. Use for 'is the "
            'dashboard slow?\' or \'which endpoint fails?\'. Example: {"hours": 24, "top": 10}.'
        ),
    )
    async def get_endpoint_performance(
        days: Days = None,
        hours: Hours = None,
        top: Annotated[int, Field(ge=1, le=100, description="Max routes, busiest first")] = 20,
    ) -> Annotated[CallToolResult, Performance]:
        return await runner.run(
            "get_endpoint_performance",
            lambda: performance(deps, days, hours if days or hours else 24, top),
        )
