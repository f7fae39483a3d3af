"""Route templates: group raw request paths so `/health-monitoring/uptime/git` and
`/health-monitoring/uptime/chocolate-factory` count as one endpoint.

The built-in list is the factory API's routes at HEAD (12 routers,
50 routes, 3 app-level redirects) plus the paths of the services this repository deploys.
Paths that match no template are normalised (ids become `{id}`); unknown paths answered with
404 collapse into `(not found)`, so a scanner cannot grow the route table without bound.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

NOT_FOUND = "(not found)"
# Cardinality bounds: a source counts at most MAX_ROUTES distinct routes that are not
# templates (normalised paths); later new ones, and paths longer than MAX_PATH_CHARS, count
# as OTHER_ROUTE, so the rollups and /metrics stay bounded whatever clients send.
OTHER_ROUTE = "(other)"
MAX_ROUTES = 500
MAX_PATH_CHARS = 500
BAD_REQUEST = "(bad request)"  # a request line that was not HTTP (TLS on the HTTP port, junk)

FACTORY_ROUTES: tuple[str, ...] = (
    # health / system
    "/health",
    "/ready",
    "/version",
    "/test-telegram",
    "/logs/search",
    "/",
    "/dashboard",
    "/vpn",
    # REE prices
    "/ree/prices/latest",
    "/ree/prices",
    "/ree/prices/stats",
    "/ree/ingest",
    # weather
    "/weather/current",
    "/weather/ingest",
    # dashboard
    "/dashboard/complete",
    "/dashboard/summary",
    "/dashboard/alerts",
    "/dashboard/heatmap",
    # optimisation
    "/optimize/production/daily",
    "/optimize/production/summary",
    # insights
    "/insights/optimal-windows",
    "/insights/alerts",
    "/insights/savings-tracking",
    "/insights/ree-deviation",
    # Prophet forecast
    "/predict/prices/hourly",
    "/predict/prices/weekly",
    "/predict/prices/models/price-forecast/status",
    "/predict/prices/models/price-forecast/train",
    # scoring
    "/predict/production-recommendation",
    "/predict/energy-optimization",
    "/predict/train",
    "/predict/train/hybrid",
    "/predict/models/metrics-history",
    # gaps
    "/gaps/summary",
    "/gaps/detect",
    "/gaps/backfill",
    "/gaps/backfill/auto",
    "/gaps/backfill/range",
    # SIAR analysis
    "/analysis/siar-summary",
    "/analysis/weather-correlation",
    "/analysis/seasonal-patterns",
    "/analysis/critical-thresholds",
    "/analysis/forecast/aemet-contextualized",
    # Tailscale health monitoring
    "/health-monitoring/summary",
    "/health-monitoring/nodes",
    "/health-monitoring/critical",
    "/health-monitoring/alerts",
    "/health-monitoring/uptime/{hostname}",
    "/health-monitoring/logs",
    "/health-monitoring/connection-stats/{hostname}",
    "/health-monitoring/latency-history/{hostname}",
    # chatbot
    "/chat/ask",
    "/chat/stats",
    "/chat/health",
    # the sidecar's direct socat routes
    "/tailscale/status",
    "/tailscale/whois/{ip}",
    # static assets of the factory dashboard
    "/static/{path:path}",
    # services deployed by this repository
    "/mcp",
    "/healthz",
    "/metrics",
    "/widget",
    "/api/v1/usage",
    "/api/v1/endpoints",
    "/api/v1/devices",
    "/api/v1/system",
    "/api/v1/probes",
    "/api/v1/sources",
)

_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,}|sha256:[0-9a-f]{64})$"
)
_CACHE_LIMIT = 50_000


class RouteTable:
    """Maps a raw path to its template. Exact paths are a dict lookup; templates with
    parameters are matched segment by segment; results are cached (paths repeat a lot)."""

    def __init__(
        self, templates: Iterable[str] = FACTORY_ROUTES, known: Iterable[str] = ()
    ) -> None:
        self._static: dict[str, str] = {}
        self._dynamic: list[tuple[tuple[str, ...], str, bool]] = []
        for template in templates:
            self.add(template)
        declared = {*self._static.values(), *(t for _, t, _ in self._dynamic)}
        specials = {NOT_FOUND, BAD_REQUEST, OTHER_ROUTE}
        # normalised routes already counted (by an earlier run): they keep their slot
        self._admitted: set[str] = {r for r in known if r not in declared and r not in specials}
        # two caches (404 or not) keyed by the raw path: no tuple per lookup on the hot path
        self._cache: dict[str, str] = {}
        self._cache_404: dict[str, str] = {}

    def add(self, template: str) -> None:
        """Register one template; `{name}` matches one segment, `{name:path}` the rest."""
        if not template.startswith("/"):
            raise ValueError(f"route template {template!r} must start with '/'")
        if "{" not in template:
            self._static[template.rstrip("/") or "/"] = template
            return
        segments = tuple(template.strip("/").split("/"))
        tail = segments[-1].endswith(":path}")
        self._dynamic.append((segments, template, tail))
        # longer, more specific templates first
        self._dynamic.sort(key=lambda item: (-len(item[0]), item[1]))

    def caches(self) -> tuple[dict[str, str], dict[str, str]]:
        """The path → template caches (non-404, 404) for the ingestion hot loop to read
        directly; `template` fills them."""
        return self._cache, self._cache_404

    def template(self, path: str, status: int = 200) -> str:
        """The route template for `path` (query string and fragment ignored)."""
        cache = self._cache_404 if status == 404 else self._cache
        cached = cache.get(path)
        if cached is not None:
            return cached
        if len(path) > MAX_PATH_CHARS and len(path.split("?", 1)[0]) > MAX_PATH_CHARS:
            return OTHER_ROUTE  # never cached: a megabyte key must not stay in memory
        result = self._resolve(path, status)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[path] = result
        return result

    def _resolve(self, raw: str, status: int) -> str:
        if raw == BAD_REQUEST:
            return BAD_REQUEST
        path = unquote(raw.split("?", 1)[0].split("#", 1)[0]) or "/"
        if not path.startswith("/"):
            # absolute-form request targets (proxies): http://host/path
            after_scheme = path.split("://", 1)[-1]
            path = "/" + after_scheme.split("/", 1)[1] if "/" in after_scheme else "/"
        trimmed = path.rstrip("/") or "/"
        found = self._static.get(trimmed)
        if found is not None:
            return found
        parts = trimmed.strip("/").split("/")
        for segments, template, tail in self._dynamic:
            if _matches(segments, parts, tail):
                return template
        if status == 404:
            return NOT_FOUND
        route = "/" + "/".join("{id}" if _ID_SEGMENT.match(p) else p for p in parts if p)
        if route not in self._admitted:
            if len(self._admitted) >= MAX_ROUTES:
                return OTHER_ROUTE
            self._admitted.add(route)
        return route


def _matches(segments: tuple[str, ...], parts: list[str], tail: bool) -> bool:
    if tail:
        fixed = segments[:-1]
        if len(parts) <= len(fixed):
            return False
    elif len(parts) != len(segments):
        return False
    else:
        fixed = segments
    for want, got in zip(fixed, parts, strict=False):
        if want.startswith("{"):
            if not got:
                return False
        elif want != got:
            return False
    return True
