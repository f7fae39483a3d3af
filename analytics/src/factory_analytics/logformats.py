"""Access-log line parsers: nginx/Caddy combined (with request time and the
Tailscale-User-Login header when present), uvicorn's default access line, and JSON lines
(Caddy's JSON access log, the factory's JSON logs, anything with the usual field names).

Parsers are pure: a line in, an `AccessRecord` or a reason out. They never raise on bad input,
because one broken line must not stop ingestion; the caller counts and samples what failed.
A recommended nginx format that carries everything the figures need:

    log_format factory '$remote_addr - $remote_user [$time_local] "$request" $status '
                       '$body_bytes_sent "$http_referer" "$http_user_agent" '
                       '$request_time "$http_tailscale_user_login"';
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, NamedTuple

from factory_analytics.routes import BAD_REQUEST
from factory_analytics.timeutil import parse_iso

Format = Literal["auto", "combined", "uvicorn", "json"]
FORMATS: tuple[str, ...] = ("auto", "combined", "uvicorn", "json")


class AccessRecord(NamedTuple):
    """One HTTP request as read from a log line. `ts` is None when the line has no time of its
    own (uvicorn); the source then supplies one (Docker's log timestamp or the read time).
    A tuple, because ingestion creates and unpacks hundreds of thousands per second."""

    ts: float | None
    method: str
    path: str
    status: int
    duration_ms: float | None
    bytes: int | None
    client: str | None
    login: str | None
    # None when the format carries none (uvicorn) or the line says "-"; used to recognise
    # this service's own probes (`PROBE_USER_AGENT`), never stored
    user_agent: str | None = None


@dataclass(slots=True)
class Unparseable:
    """A line that looked like nothing we know, with a short reason for the samples."""

    reason: str


IGNORED = "ignored"  # a line that is known not to be an access line (startup banner, app log)
# The User-Agent of this service's synthetic probes (collectors/probes.py adds the version):
# their requests are measurements, not usage, and ingestion counts them apart.
PROBE_USER_AGENT = "factory-analytics-probe/"

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_COMBINED = re.compile(
    r"^(\S+) \S+ (\S+) \[([^\]]+)\] " + _QUOTED + r" (\d{3}) (\d+|-)"
    r"(?: " + _QUOTED + " " + _QUOTED + r")?(.*)$"
)
# the common case in one match: plain request line, no escapes, a user agent that is neither
# "-" nor a probe's (those lines take the full parser, so the hot path never has to look at
# the agent again), optional time and login
_COMBINED_FAST = re.compile(
    r"^(\S+) \S+ (\S+) \[(\d\d/\w{3}/\d{4}:\d\d:\d\d):(\d\d) ([+-]\d{4})\] "
    r'"([A-Z]+) ([^ "\\]+) HTTP/[\d.]+" (\d{3}) (\d+|-)'
    r' "[^"\\]*" "(?!-"|' + re.escape(PROBE_USER_AGENT) + r')([^"\\]*)"'
    r'(?: ([\d.]+|-))?(?: "([^"\\]*)")?$'
)
_new_record = tuple.__new__
_EXTRA = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)|' + _QUOTED + r"|(\S+)")
_UVICORN = re.compile(
    r"^(?:INFO|WARNING|ERROR|DEBUG|TRACE):\s+(?:(\S+?):(\d+)|-?)\s*-\s+"
    r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})'
)
_LEVEL_PREFIX = re.compile(r"^(?:INFO|WARNING|ERROR|DEBUG|TRACE|CRITICAL):\s")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NGINX_ESCAPE = re.compile(r"(?:\\x[0-9A-Fa-f]{2})+")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_time_cache: dict[str, float] = {}
_minute_cache: dict[str, float] = {}


def parse_line(line: str, fmt: Format = "auto") -> AccessRecord | Unparseable | str:
    """Parse one line (without its newline) in the given format; `auto` tries each."""
    stripped = line.strip()
    if not stripped:
        return IGNORED
    if fmt == "json" or (fmt == "auto" and stripped[0] == "{"):
        return parse_json(stripped)
    if fmt == "uvicorn":
        return parse_uvicorn(stripped)
    if fmt == "combined":
        return parse_combined(stripped)
    if _LEVEL_PREFIX.match(stripped) or stripped.startswith("\x1b"):
        return parse_uvicorn(stripped)
    return parse_combined(stripped)


def parse_combined_fast(line: str) -> AccessRecord | None:
    """The common combined line (plain request, no escapes) in one regex match, or None so
    the caller falls back to `parse_combined`. This is the hot path of ingestion."""
    m = _COMBINED_FAST.match(line)
    if m is None:
        return None
    client, _remote_user, minute, second, zone, method, path, status, size, agent, rt, login = (
        m.groups()
    )
    key = minute + zone
    base = _minute_cache.get(key)
    if base is None:
        base = _parse_combined_time(f"{minute}:00 {zone}")
        if base is None:
            return None
        if len(_minute_cache) > 10_000:
            _minute_cache.clear()
        _minute_cache[key] = base
    if not login or login == "-":
        login = None  # never $remote_user: HTTP Basic, any client sets it (identity.py)
    return _new_record(
        AccessRecord,
        (
            base + int(second),
            method,
            path,
            int(status),
            float(rt) * 1000.0 if rt and rt != "-" else None,  # the API rounds for display
            None if size == "-" else int(size),
            None if client == "-" else client,
            login,
            agent,
        ),
    )


def parse_combined(line: str) -> AccessRecord | Unparseable:
    """nginx `combined`/Caddy common log, with optional trailing request time and login."""
    fast = parse_combined_fast(line)
    if fast is not None:
        return fast
    m = _COMBINED.match(line)
    if m is None:
        return Unparseable("not a combined/common log line")
    client, _remote_user, when, request, status, size, _ref, agent, rest = m.groups()
    ts = _combined_time(when)
    if ts is None:
        return Unparseable(f"bad time {when!r}")
    method, path = _split_request(_unescape(request))
    duration_ms: float | None = None
    login: str | None = None
    for key, value, quoted, bare in _EXTRA.findall(rest or ""):
        if key:
            text = _unescape(value[1:-1]) if value.startswith('"') else value
            if key in ("rt", "request_time", "rtime"):
                duration_ms = _seconds_to_ms(text)
            elif key in ("login", "user", "tailscale_user_login", "ts_login"):
                login = _present(text)
        elif bare:
            if duration_ms is None:
                duration_ms = _seconds_to_ms(bare)
        elif login is None:
            login = _present(_unescape(quoted))
    return AccessRecord(
        ts=ts,
        method=method,
        path=path,
        status=int(status),
        duration_ms=duration_ms,
        bytes=None if size == "-" else int(size),
        client=client if client != "-" else None,
        login=login,
        user_agent=None if agent is None else _present(_unescape(agent)),
    )


def parse_uvicorn(line: str) -> AccessRecord | Unparseable | str:
    """uvicorn's default access line: `INFO:     100.64.0.5:52344 - "GET / HTTP/1.1" 200 OK`.
    IPv6 clients are printed without brackets (`::1:52344`), so the port is after the last
    colon. The line carries no time and no duration."""
    clean = _ANSI.sub("", line) if "\x1b" in line else line
    m = _UVICORN.match(clean)
    if m is None:
        if ' - "' in clean:
            return Unparseable("broken uvicorn access line")
        if _LEVEL_PREFIX.match(clean):
            return IGNORED  # uvicorn/app log line that is not an access line
        return Unparseable("not a uvicorn access line")
    client, _port, method, target, status = m.groups()
    return AccessRecord(
        ts=None,
        method=method,
        path=target,
        status=int(status),
        duration_ms=None,
        bytes=None,
        client=client or None,
        login=None,
    )


def parse_json(line: str) -> AccessRecord | Unparseable | str:
    """A JSON object per line. Caddy's access log nests the request; flat logs use common
    names (the keys are listed in analytics/README.md, "JSON lines").

    A JSON line without a method, path and status is an application log line (the MCP
    server's `tool call` lines, startup messages): ignored, not unparseable. So is one whose
    target is a full URL (`http://…`): a server logs the path it was asked for, so that is the
    app logging a request it *made* (an upstream call), which is not usage of the app."""
    try:
        doc = json.loads(line)
    except ValueError as exc:  # JSONDecodeError, or a number too big to convert
        return Unparseable(f"invalid JSON: {getattr(exc, 'msg', exc)}")
    if not isinstance(doc, dict):
        return Unparseable("JSON line is not an object")
    nested = doc.get("request")
    request: dict[str, Any] = nested if isinstance(nested, dict) else doc
    method = _first(request, "method", "http_method", "request_method")
    path = _first(request, "uri", "path", "url", "request_uri", "target")
    status = _first(doc, "status", "status_code", "response_status")
    if method is None or path is None or status is None:
        return IGNORED
    if "://" in str(path)[:12]:
        return IGNORED
    try:
        status_code = int(status)
        ts = _json_time(_first(doc, "ts", "time", "timestamp", "@timestamp", "asctime"))
        duration_ms = _json_duration(doc)
        size = _first(doc, "size", "bytes", "body_bytes_sent", "response_size")
    except (TypeError, ValueError) as exc:
        return Unparseable(f"bad field value: {exc}")
    headers = request.get("headers") if isinstance(request.get("headers"), dict) else {}
    login = _first(doc, "user_login", "tailscale_user_login", "login", "user")
    if login is None and headers:
        login = _header(headers, "Tailscale-User-Login")
    client = _first(request, "client_ip", "remote_ip", "client", "remote_addr", "ip")
    agent = _first(doc, "user_agent", "http_user_agent", "userAgent")
    if agent is None and request is not doc:
        agent = _first(request, "user_agent", "http_user_agent", "userAgent")
    if agent is None and headers:
        agent = _header(headers, "User-Agent")
    return AccessRecord(
        ts=ts,
        method=str(method).upper(),
        path=str(path),
        status=status_code,
        duration_ms=duration_ms,
        bytes=int(size) if isinstance(size, int | float | str) and str(size).isdigit() else None,
        client=_strip_port(str(client)) if client else None,
        login=_present(str(login)) if login else None,
        user_agent=_present(str(agent)) if agent else None,
    )


def _first(doc: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = doc.get(key)
        if value not in (None, ""):
            return value
    return None


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            if isinstance(value, list):
                return str(value[0]) if value else None
            return str(value)
    return None


def _json_time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        # epoch seconds, or milliseconds for values past the year 33658
        return float(value) / 1000 if value > 1e12 else float(value)
    return parse_iso(str(value).replace(",", ".").replace(" ", "T", 1))


def _json_duration(doc: dict[str, Any]) -> float | None:
    for key in ("duration_ms", "latency_ms", "elapsed_ms", "response_time_ms"):
        if doc.get(key) is not None:
            return round(float(doc[key]), 1)
    for key in ("duration", "request_time", "elapsed", "latency"):
        if doc.get(key) is not None:
            # Caddy and nginx-style fields are seconds
            return round(float(doc[key]) * 1000, 1)
    return None


def _combined_time(text: str) -> float | None:
    """`25/Nov/2026:10:18:16 +0000` → epoch seconds. The minute (with its zone) is parsed
    once and cached, because sparse logs have a new second on nearly every line."""
    if len(text) == 26 and text[17] == ":":
        minute_key = text[:17] + text[20:]
        base = _time_cache.get(minute_key)
        if base is None:
            base = _parse_combined_time(text[:17] + ":00" + text[20:])
            if base is None:
                return None
            if len(_time_cache) > 10_000:
                _time_cache.clear()
            _time_cache[minute_key] = base
        seconds = text[18:20]
        return base + int(seconds) if seconds.isdigit() else None
    return _parse_combined_time(text)


def _parse_combined_time(text: str) -> float | None:
    try:
        day, mon, rest = text.split("/", 2)
        year, hh, mm, ss_zone = rest.split(":", 3)
        ss, zone = ss_zone.split(" ")
        sign = -1 if zone[0] == "-" else 1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
        moment = datetime(
            int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss), tzinfo=timezone(offset)
        )
    except (ValueError, KeyError, IndexError):
        return None
    return moment.astimezone(UTC).timestamp()


def _split_request(request: str) -> tuple[str, str]:
    parts = request.split(" ")
    if len(parts) >= 2 and parts[0].isalpha() and parts[0].isupper():
        return parts[0], parts[1]
    return "-", BAD_REQUEST


def _unescape(text: str) -> str:
    """nginx writes `"` as `\\x22` and non-ASCII bytes as `\\xHH`: rebuild the UTF-8 text."""
    if "\\" not in text:
        return text
    text = _NGINX_ESCAPE.sub(
        lambda m: bytes.fromhex(m.group(0).replace("\\x", "")).decode("utf-8", "replace"), text
    )
    return text.replace('\\"', '"').replace("\\\\", "\\")


def _seconds_to_ms(text: str) -> float | None:
    try:
        return round(float(text) * 1000, 1)
    except ValueError:
        return None


def _present(text: str) -> str | None:
    """A logged value, or None for nginx's "-" and empty fields."""
    value = text.strip()
    return None if value in ("", "-") else value


def _strip_port(client: str) -> str:
    if client.startswith("["):  # [::1]:8080
        return client[1:].split("]", 1)[0]
    if client.count(":") == 1:  # 1.2.3.4:5678
        return client.split(":", 1)[0]
    return client
