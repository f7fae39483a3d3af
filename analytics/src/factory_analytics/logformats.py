"""Access-log line parsers: nginx/Caddy combined (with request time and the
Tailscale-User-Login header when present), uvicorn's default access line, and JSON lines
(Caddy's JSON access log, the factory's JSON logs, anything with the usual field names).

Parsers are pure and total: a line in, an `AccessRecord` or a rejection (a reason code from
`REJECT_REASONS` and a message) out. `parse_line` turns any exception of a parser into a
rejection, because one broken line must never stop ingestion; the caller counts and samples
what was rejected. Every field is checked here (type and range: status 100-599, durations
finite and between 0 and MAX_DURATION_MS, sizes below 2^53, JSON nesting at most
MAX_JSON_DEPTH), so nothing that reaches the database can break a query later; the time
window (`TIME_FLOOR`, at most MAX_FUTURE_SECONDS ahead) is checked by the ingester, which
knows the time of ingest.
A recommended nginx format that carries everything the figures need:

    log_format factory '$remote_addr - $remote_user [$time_local] "$request" $status '
                       '$body_bytes_sent "$http_referer" "$http_user_agent" '
                       '$request_time "$http_tailscale_user_login"';
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
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
    """A rejected line: `code` is one of REJECT_REASONS (counted per source), `reason` a short
    message for the samples."""

    code: str
    reason: str


# Why a line was rejected: a fixed set, so the per-source counters and /metrics labels stay
# bounded (API.md, /api/v1/sources).
UNRECOGNISED = "unrecognised"  # no format matched
INVALID_JSON = "invalid_json"  # not JSON, or NaN/Infinity (not JSON either)
JSON_TOO_DEEP = "json_too_deep"
NOT_AN_OBJECT = "not_an_object"
BAD_TIME = "bad_time"  # a time that cannot be read
TIME_OUT_OF_RANGE = "time_out_of_range"
BAD_FIELD = "bad_field"  # a field of the wrong type or out of range
LINE_TOO_LONG = "line_too_long"
PARSER_ERROR = "parser_error"  # a parser raised: a bug, but never a stalled source
REJECT_REASONS = (
    UNRECOGNISED,
    INVALID_JSON,
    JSON_TOO_DEEP,
    NOT_AN_OBJECT,
    BAD_TIME,
    TIME_OUT_OF_RANGE,
    BAD_FIELD,
    LINE_TOO_LONG,
    PARSER_ERROR,
)

# Plausible request times: not before 2000-01-01T00:00Z, not more than 5 minutes after the
# moment of ingest (clock skew between the logging host and this one).
TIME_FLOOR = 946_684_800.0
MAX_FUTURE_SECONDS = 300.0
MAX_DURATION_MS = 7 * 86_400_000.0  # a week: long polls and websockets, not more
MAX_BYTES = 2**53  # above: a corrupt field (and past 2^63 SQLite cannot store it)
MAX_JSON_DEPTH = 32
# The methods of RFC 9110 and PATCH; anything else is counted as OTHER (bounded labels).
HTTP_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)
OTHER_METHOD = "OTHER"


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
    r'"(GET|POST|HEAD|PUT|DELETE|PATCH|OPTIONS) ([^ "\\]+) HTTP/[\d.]+" ([1-5]\d\d)'
    r' (\d{1,15}|-) "[^"\\]*" "(?!-"|' + re.escape(PROBE_USER_AGENT) + r')([^"\\]*)"'
    r'(?: (\d{1,5}(?:\.\d{1,6})?|-))?(?: "([^"\\]*)")?$'
)
# the fast path's limits (a known method, status 1xx-5xx, a size and request time of sane
# length): anything else takes the full parser, which says what is wrong with it
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
    """Parse one line (without its newline) in the given format; `auto` tries each. Total:
    whatever a parser raises makes the line rejected (`parser_error`), never the caller's
    problem."""
    try:
        return _parse_line(line, fmt)
    except Exception as exc:
        return Unparseable(PARSER_ERROR, f"parser failed: {type(exc).__name__}")


def _parse_line(line: str, fmt: Format) -> AccessRecord | Unparseable | str:
    stripped = line.strip()
    if not stripped:
        return IGNORED
    if fmt == "json" or (fmt == "auto" and stripped[0] in "{["):
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
        return Unparseable(UNRECOGNISED, "not a combined/common log line")
    client, _remote_user, when, request, status, size, _ref, agent, rest = m.groups()
    ts = _combined_time(when)
    if ts is None:
        return Unparseable(BAD_TIME, f"bad time {when[:40]!r}")
    method, path = _split_request(_unescape(request))
    bad = _check_status(int(status)) or (None if size == "-" else _check_bytes(int(size)))
    if bad:
        return Unparseable(BAD_FIELD, bad)
    duration_ms: float | None = None
    login: str | None = None
    for key, value, quoted, bare in _EXTRA.findall(rest or ""):
        if key:
            text = _unescape(value[1:-1]) if value.startswith('"') else value
            if key in ("rt", "request_time", "rtime"):
                duration_ms = _seconds_to_ms(text)
                if duration_ms is None and _NUMBERISH.match(text):
                    return Unparseable(BAD_FIELD, f"request time {text[:40]!r} is not seconds")
            elif key in ("login", "user", "tailscale_user_login", "ts_login"):
                login = _present(text)
        elif bare:
            if duration_ms is None:
                duration_ms = _seconds_to_ms(bare)
                if duration_ms is None and _NUMBERISH.match(bare):
                    return Unparseable(BAD_FIELD, f"request time {bare[:40]!r} is not seconds")
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
            return Unparseable(UNRECOGNISED, "broken uvicorn access line")
        if _LEVEL_PREFIX.match(clean):
            return IGNORED  # uvicorn/app log line that is not an access line
        return Unparseable(UNRECOGNISED, "not a uvicorn access line")
    client, _port, method, target, status = m.groups()
    bad = _check_status(int(status))
    if bad:
        return Unparseable(BAD_FIELD, bad)
    return AccessRecord(
        ts=None,
        method=canonical_method(method),
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
    if line.count("{") + line.count("[") > MAX_JSON_DEPTH and _json_depth(line) > MAX_JSON_DEPTH:
        return Unparseable(JSON_TOO_DEEP, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        doc = json.loads(line, parse_constant=_no_constant)
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, or a number too big to convert
        return Unparseable(INVALID_JSON, f"invalid JSON: {getattr(exc, 'msg', exc)}")
    if not isinstance(doc, dict):
        return Unparseable(NOT_AN_OBJECT, "JSON line is not an object")
    nested = doc.get("request")
    request: dict[str, Any] = nested if isinstance(nested, dict) else doc
    method = _first(request, "method", "http_method", "request_method")
    path = _first(request, "uri", "path", "url", "request_uri", "target")
    status = _first(doc, "status", "status_code", "response_status")
    if method is None or path is None or status is None:
        return IGNORED
    if not isinstance(method, str) or not isinstance(path, str):
        return Unparseable(BAD_FIELD, "method and path must be strings")
    if "://" in path[:12]:
        return IGNORED
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
    for name, value in (
        ("method", method),
        ("path", path),
        ("user", login),
        ("client", client),
        ("user agent", agent),
    ):
        if value is None:
            continue
        if not isinstance(value, str):
            return Unparseable(BAD_FIELD, f"{name} must be a string, not {type(value).__name__}")
        if "\\u" in line and not _is_text(value):
            # a lone surrogate (`"\\ud800"`) is valid JSON but no text: SQLite refuses it
            return Unparseable(BAD_FIELD, f"{name} is not valid Unicode text")
    status_code = _json_int(status)
    bad = "status must be an integer" if status_code is None else _check_status(status_code)
    if bad:
        return Unparseable(BAD_FIELD, bad)
    size = _first(doc, "size", "bytes", "body_bytes_sent", "response_size")
    size_bytes = None if size is None else _json_int(size)
    if size is not None:
        bad = "size must be an integer" if size_bytes is None else _check_bytes(size_bytes)
        if bad:
            return Unparseable(BAD_FIELD, bad)
    duration_ms, bad = _json_duration(doc)
    if bad:
        return Unparseable(BAD_FIELD, bad)
    when = _first(doc, "ts", "time", "timestamp", "@timestamp", "asctime")
    if isinstance(when, bool) or not isinstance(when, str | int | float | None):
        return Unparseable(
            BAD_FIELD, f"time must be a string or a number, not {type(when).__name__}"
        )
    try:
        ts = _json_time(when)
    except (ValueError, OverflowError):
        return Unparseable(BAD_TIME, f"bad time {str(when)[:40]!r}")
    return AccessRecord(
        ts=ts,
        method=canonical_method(method.upper()),
        path=path,
        status=status_code,  # type: ignore[arg-type]  # checked above
        duration_ms=duration_ms,
        bytes=size_bytes,
        client=_strip_port(client) if client else None,
        login=_present(login) if login else None,
        user_agent=_present(agent) if agent else None,
    )


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def canonical_method(method: str) -> str:
    """The method, or OTHER for one outside HTTP_METHODS (clients can send any token)."""
    return method if method in HTTP_METHODS else OTHER_METHOD


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_JSON_TOKENS = re.compile(r'[\[\]{}"\\]')


def _json_depth(line: str) -> int:
    """The deepest nesting of arrays/objects, brackets inside strings not counted: checked
    before parsing (only for lines with many brackets), so a hostile line never recurses."""
    depth = deepest = 0
    in_string = False
    escaped_at = -1  # the position of a character escaped by a backslash
    for m in _JSON_TOKENS.finditer(line):
        ch, at = m.group(), m.start()
        if in_string:
            if at == escaped_at:
                continue
            if ch == "\\":
                escaped_at = at + 1
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def _json_int(value: Any) -> int | None:
    """An integer field: a JSON integer, or a string of digits (some loggers quote numbers);
    never a boolean or a float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def _check_status(status: int) -> str | None:
    return None if 100 <= status <= 599 else f"status {status} is not an HTTP status (100-599)"


def _check_bytes(size: int) -> str | None:
    return None if 0 <= size < MAX_BYTES else f"size {size} out of range"


def _check_duration(ms: float) -> str | None:
    if math.isfinite(ms) and 0 <= ms <= MAX_DURATION_MS:
        return None
    return f"duration {ms} ms out of range (0 to {MAX_DURATION_MS:.0f})"


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


def _json_duration(doc: dict[str, Any]) -> tuple[float | None, str | None]:
    """(duration in ms, None) or (None, what is wrong with it); (None, None) when absent."""
    for keys, scale in (
        (("duration_ms", "latency_ms", "elapsed_ms", "response_time_ms"), 1.0),
        (("duration", "request_time", "elapsed", "latency"), 1000.0),  # Caddy/nginx: seconds
    ):
        for key in keys:
            value = doc.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                return None, f"{key} must be a number, not {type(value).__name__}"
            try:
                ms = float(value) * scale
            except (ValueError, OverflowError):
                return None, f"{key} {str(value)[:40]!r} is not a number"
            bad = _check_duration(ms)
            return (None, bad) if bad else (round(ms, 1), None)
    return None, None


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
        return moment.timestamp()  # never astimezone: 9999-12-31 -1400 is past year 9999
    except (ValueError, KeyError, IndexError, OverflowError):
        return None


def _split_request(request: str) -> tuple[str, str]:
    parts = request.split(" ")
    if len(parts) >= 2 and parts[0].isalpha() and parts[0].isupper():
        return canonical_method(parts[0]), parts[1]
    return "-", BAD_REQUEST


def _unescape(text: str) -> str:
    """nginx writes `"` as `\\x22` and non-ASCII bytes as `\\xHH`: rebuild the UTF-8 text."""
    if "\\" not in text:
        return text
    text = _NGINX_ESCAPE.sub(
        lambda m: bytes.fromhex(m.group(0).replace("\\x", "")).decode("utf-8", "replace"), text
    )
    return text.replace('\\"', '"').replace("\\\\", "\\")


_NUMBERISH = re.compile(r"^[-+\d.eE]+$|^(?i:nan|inf|infinity)$")


def _seconds_to_ms(text: str) -> float | None:
    """Seconds as ms, None when not a number of seconds in range (the caller decides whether
    a non-number is a different field or a broken request time)."""
    try:
        ms = float(text) * 1000
    except ValueError:
        return None
    return None if _check_duration(ms) else round(ms, 1)


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
