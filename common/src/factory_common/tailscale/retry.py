"""When the Tailscale client sends a request again, and after how long. One policy for every
request, the OAuth token exchange included (it runs inside the httpx auth flow, where the
client's own retry loop cannot see it).

- 429: the API refused the request before doing anything (rate limit), so any request may be
  sent again, after ``Retry-After`` (delta-seconds or an HTTP date, capped) when given, else
  after the exponential backoff;
- 5xx: retried with backoff (or ``Retry-After``) only when the request is safe to repeat. A
  5xx says nothing about whether the API acted: Tailscale's API documentation promises no
  "nothing was done" for any 5xx, so a non-idempotent call (minting an auth key: a repeat
  could leave an extra key nobody knows about) gets the error instead.

Transport failures (no answer at all) follow the same rule as 5xx, in the client.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

__all__ = ["MAX_RETRY_AFTER", "RETRY_STATUSES", "RetryPolicy", "retry_after_seconds"]

RETRY_STATUSES = frozenset({500, 502, 503, 504})
#: Never wait longer than this for one Retry-After (a reconcile must end).
MAX_RETRY_AFTER = 120.0


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, how long between, and for which answers."""

    max_retries: int = 4
    backoff_seconds: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def backoff(self, attempt: int) -> float:
        """Exponential: 0.5 s, 1 s, 2 s, … for attempts 0, 1, 2, …"""
        return float(self.backoff_seconds * 2.0**attempt)

    def delay(self, response: httpx.Response, attempt: int, *, idempotent: bool) -> float | None:
        """Seconds to wait before sending again, or None: give the answer to the caller."""
        if attempt >= self.max_retries:
            return None
        status = response.status_code
        if status != 429 and not (idempotent and status in RETRY_STATUSES):
            return None
        after = retry_after_seconds(response.headers.get("Retry-After"))
        return min(after, MAX_RETRY_AFTER) if after is not None else self.backoff(attempt)
