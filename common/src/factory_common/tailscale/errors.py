"""Errors of the Tailscale API client, translated from httpx in exactly one place (api.py).

    TailscaleError                    root: anything the tailnet side could not do
    ├── TailscaleUnreachable          no HTTP answer at all (DNS, connect, timeout)
    └── TailscaleAPIError             an HTTP answer that is an error; carries status,
        │                             Tailscale's ``message`` and ``data``
        ├── TailscaleAuthError        401/403: token missing, expired, or lacks a scope
        ├── TailscaleNotFound         404
        ├── TailscalePreconditionFailed  412: the ETag in If-Match is no longer current
        └── TailscaleRateLimited      429 still answered after every retry

No exception ever carries a credential: messages are built from the response body only.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TailscaleAPIError",
    "TailscaleAuthError",
    "TailscaleError",
    "TailscaleNotFound",
    "TailscalePreconditionFailed",
    "TailscaleRateLimited",
    "TailscaleUnreachable",
]


class TailscaleError(Exception):
    """Root of everything the Tailscale client raises."""


class TailscaleUnreachable(TailscaleError):
    """The API could not be reached (no HTTP response)."""


class TailscaleAPIError(TailscaleError):
    """The API answered with an error status; ``message`` is Tailscale's own text."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str = "",
        path: str = "",
        data: Any = None,
    ) -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        self.data = data
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}HTTP {status}: {message}")


class TailscaleAuthError(TailscaleAPIError):
    """401/403: the credentials are invalid, expired, or lack the scope for this call."""


class TailscaleNotFound(TailscaleAPIError):
    """404: no such tailnet, device or key."""


class TailscalePreconditionFailed(TailscaleAPIError):
    """412: the policy changed since its ETag was read (someone edited it in the console)."""


class TailscaleRateLimited(TailscaleAPIError):
    """429 after the client ran out of retries."""
