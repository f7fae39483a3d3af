"""One HTTP client per upstream service, with retries, a deadline, a cache and clear errors.

Why one place: every way a request can fail (refused, DNS, timeout, 404, 422, 5xx, an HTML
403 from the Tailscale sidecar, a body that is not JSON) is translated here, once, into an
`UpstreamError` whose message names the URL, the setting to check and what to try next. Tools
never see an httpx exception.

- GETs are retried with jittered exponential backoff on transport errors, 429 and 5xx, and
  honour `Retry-After`; POSTs are never retried (the factory's POSTs are not all idempotent).
- Every request fits in the tool's deadline (`deadline_scope`); the per-request timeout shrinks
  as the deadline approaches, so a tool finishes in time in all cases.
- Cancellation needs no code: anyio cancels the awaiting task and httpx closes the request.
"""

from __future__ import annotations

import contextvars
import json
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from mcp.server.mcpserver.exceptions import ToolError

from factory_mcp.cache import TTLCache

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)
_statuses: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "upstream_statuses", default=None
)
# "GET http://…/path" → what became of it ("no answer yet", "HTTP 200", "timeout", …), so an
# error found in an answer, or a tool stopped at its deadline, can name the calls behind it.
_calls: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "upstream_calls", default=None
)


class UpstreamError(ToolError):
    """An upstream call failed; the message is written for the person reading the tool result.

    `endpoint` ("GET http://…/path") and `reason` (one of REASONS, or "HTTP <status>") say
    what failed in a form a fan-out can report per source without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        endpoint: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint
        self.reason = reason or (f"HTTP {status}" if status is not None else "bad answer")


# Why a request can fail besides an HTTP status ("HTTP 503"): the words a caller can act on.
REASONS = ("timeout", "unreachable", "bad JSON", "bad answer")


@contextmanager
def deadline_scope(seconds: float) -> Iterator[list[int]]:
    """Set the absolute deadline for upstream calls made inside; yields the statuses seen."""
    statuses: list[int] = []
    token = _deadline.set(anyio.current_time() + seconds)
    status_token = _statuses.set(statuses)
    calls_token = _calls.set({})
    try:
        yield statuses
    finally:
        _deadline.reset(token)
        _statuses.reset(status_token)
        _calls.reset(calls_token)


def calls_made() -> str:
    """The upstream calls of the current scope and their outcome, for an error message."""
    calls = _calls.get() or {}
    return "; ".join(f"{where} → {outcome}" for where, outcome in calls.items())


def _note_call(where: str, outcome: str) -> None:
    calls = _calls.get()
    if calls is not None:
        calls[where] = outcome


@contextmanager
def narrower_deadline(seconds: float) -> Iterator[None]:
    """Within a tool's deadline, a shorter one for one part of the work (one fan-out source).

    The outer deadline still wins when it is nearer; the statuses seen stay the tool's.
    """
    end = anyio.current_time() + seconds
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(end, outer))
    try:
        yield
    finally:
        _deadline.reset(token)


def _remaining() -> float | None:
    end = _deadline.get()
    return None if end is None else end - anyio.current_time()


def _record(status: int) -> None:
    seen = _statuses.get()
    if seen is not None:
        seen.append(status)


@dataclass
class Upstream:
    """A JSON-over-HTTP service the tools read from (the factory API or analytics)."""

    name: str
    base_url: str
    setting: str
    client: httpx.AsyncClient
    request_timeout_s: float = 30.0
    connect_timeout_s: float = 5.0
    retries: int = 2
    backoff_s: float = 0.25
    headers: Mapping[str, str] = field(default_factory=dict)
    cache: TTLCache = field(default_factory=TTLCache)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    async def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        ttl_s: float = 0.0,
        hint: str = "",
    ) -> Any:
        """GET JSON, retried; cached for `ttl_s` seconds when the answer cannot change."""
        key = ("GET", path, tuple(sorted((params or {}).items())))
        if ttl_s > 0:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
        value = await self._request("GET", path, params=params, hint=hint)
        if ttl_s > 0:
            self.cache.put(key, value, ttl_s)
        return value

    async def post(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        body: Any = None,
        hint: str = "",
    ) -> Any:
        """POST once (never retried); query params and JSON body as the endpoint expects."""
        return await self._request("POST", path, params=params, body=body, hint=hint)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        body: Any = None,
        hint: str,
    ) -> Any:
        attempts = 1 + (self.retries if method == "GET" else 0)
        last: UpstreamError | None = None
        where = f"{method} {self.url(path)}"
        for attempt in range(attempts):
            timeout = self._timeout(where)
            _note_call(where, "no answer yet")
            try:
                response = await self.client.request(
                    method,
                    self.url(path),
                    params=params,
                    json=body,
                    headers=dict(self.headers),
                    timeout=timeout,
                )
            except httpx.TimeoutException:
                _note_call(where, "timeout")
                last = UpstreamError(
                    f"The {self.name} did not answer {where} within {timeout.read:.0f} s. It "
                    "may be busy (some endpoints take 30 s) or down; try again, or check it "
                    f"with: curl -sS {self.base_url}/health",
                    endpoint=where,
                    reason="timeout",
                )
            except httpx.TransportError as exc:
                _note_call(where, "unreachable")
                last = UpstreamError(
                    f"Cannot reach the {self.name} at {self.base_url} for {where} "
                    f"({_reason(exc)}). "
                    f"Check that {self.setting} is right (now {self.base_url}) and that the "
                    "service is running and reachable from this server.",
                    endpoint=where,
                    reason="unreachable",
                )
            else:
                _record(response.status_code)
                _note_call(where, f"HTTP {response.status_code}")
                if response.status_code < 400:
                    return self._json(response, where)
                last = self._http_error(method, path, response, hint)
                if response.status_code not in RETRY_STATUSES:
                    raise last
            if attempt + 1 < attempts:
                await self._backoff(attempt, last)
        assert last is not None
        if attempts > 1:
            raise UpstreamError(
                f"{last} (tried {attempts} times)",
                status=last.status,
                endpoint=last.endpoint,
                reason=last.reason,
            )
        raise last

    def _timeout(self, where: str) -> httpx.Timeout:
        read = self.request_timeout_s
        remaining = _remaining()
        if remaining is not None:
            if remaining <= 0.05:
                raise UpstreamError(
                    f"No time left to call the {self.name} ({where}): the deadline passed. "
                    "Ask again, or for a narrower range.",
                    endpoint=where,
                    reason="timeout",
                )
            read = min(read, remaining)
        return httpx.Timeout(read, connect=min(self.connect_timeout_s, read))

    async def _backoff(self, attempt: int, error: UpstreamError) -> None:
        delay = random.uniform(0, self.backoff_s * (2**attempt))  # noqa: S311 (jitter, not crypto)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, retry_after)
        remaining = _remaining()
        if remaining is not None and delay >= remaining - 0.5:
            raise error
        await anyio.sleep(delay)

    def _json(self, response: httpx.Response, where: str) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            kind = response.headers.get("content-type", "unknown content type")
            raise UpstreamError(
                f"The {self.name} answered {where} with {kind}, not JSON. "
                f"{self.setting} may point at a proxy or a web page instead of the API.",
                endpoint=where,
                reason="bad JSON",
            ) from None

    def _refusal(self, response: httpx.Response) -> str:
        """What to do about a 401/403, told apart by who answered it."""
        if "html" in response.headers.get("content-type", ""):
            return (
                f"An HTML page: a proxy refused the path. {self.setting} points at a proxy that "
                "blocks it (the factory's Tailscale nginx sidecar blocks /ree, /predict, "
                "/weather and /gaps); use the API's own address on the Docker network or host."
            )
        if _tailscale_middleware(response):
            return (
                "The factory's Tailscale middleware refused this server's address: it admits "
                "only tailnet (100.x) and Docker-internal/private addresses, and some paths "
                f"need an admin login. Run factory-mcp on the tailnet or on the factory's Docker "
                f"network, with {self.setting} set to the API's address as seen from there."
            )
        return (
            f"The request was refused: check the token for the {self.name} and that "
            f"{self.setting} points at the right service."
        )

    def _http_error(
        self, method: str, path: str, response: httpx.Response, hint: str
    ) -> UpstreamError:
        status = response.status_code
        detail = _detail(response)
        where = f"{method} {self.url(path)}"
        if status == 422:
            text = f"The {self.name} rejected the request ({where} → 422: {detail})."
        elif status == 404:
            text = (
                f"The {self.name} answered {where} with 404 ({detail}). The endpoint or the "
                "data does not exist; "
                f"check that {self.setting} points at the right service and version."
            )
        elif status in (401, 403):
            text = f"The {self.name} refused {where} with {status} ({detail}). " + self._refusal(
                response
            )
        elif status == 429:
            text = f"The {self.name} answered {where} with 429 (rate-limited); wait, ask again."
        elif status >= 500:
            text = (
                f"The {self.name} failed on {where} with {status} ({detail}). This is a "
                "fault on its side (often its database); try again later or check its logs."
            )
        else:
            text = f"The {self.name} answered {where} with {status} ({detail})."
        error = UpstreamError(f"{text} {hint}".strip(), status=status, endpoint=where)
        retry_after = response.headers.get("retry-after", "")
        if retry_after.isdigit():
            error.retry_after = float(retry_after)  # type: ignore[attr-defined]
        return error


def _reason(exc: httpx.TransportError) -> str:
    """Why a connection failed, in words: httpx's own text ("All connection attempts failed")
    hides the refused connection in its cause chain."""
    text = str(exc) or type(exc).__name__
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return "connection refused: nothing listens at that address and port"
        cause = cause.__cause__ or cause.__context__
    if "name or service not known" in text.lower() or "nodename" in text.lower():
        return f"the host name does not resolve ({text[:100]})"
    return text[:160]


def _tailscale_middleware(response: httpx.Response) -> bool:
    """The factory's Tailscale middleware answers 401/403 as {"error": <word>, "message"}."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return (
        isinstance(body, dict)
        and body.get("error") in ("Unauthorized", "Forbidden")
        and isinstance(body.get("message"), str)
    )


def _detail(response: httpx.Response) -> str:
    """The error text from FastAPI, analytics or the sidecar shapes, cut short."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        kind = response.headers.get("content-type", "")
        return "an HTML page" if "html" in kind else (response.text[:160] or "no body")
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, list):
            parts = []
            for item in detail[:5]:
                if isinstance(item, dict):
                    loc = ".".join(
                        str(p) for p in item.get("loc", []) if p not in ("query", "body")
                    )
                    parts.append(f"{loc}: {item.get('msg', '')}".strip(": "))
            return "; ".join(parts) or "validation error"
        if isinstance(detail, str):
            return detail[:200]
        error = body.get("error")
        if isinstance(error, dict):
            message = str(error.get("message", ""))
            hint = error.get("hint")
            return f"{error.get('code', 'error')}: {message}" + (f"; {hint}" if hint else "")
        if isinstance(error, str):
            return f"{error}: {body.get('message', '')}"[:200]
    return json.dumps(body)[:160]
