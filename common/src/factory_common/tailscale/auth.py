"""Credentials for the Tailscale API: an API access token, or an OAuth client.

Why an httpx ``Auth`` flow: the OAuth client-credentials exchange must happen lazily, be
cached until the token expires (a reconcile makes dozens of calls; one exchange is enough)
and be retried once when the API says the cached token is no longer accepted. httpx runs
the flow around every request, so the client code never sees tokens at all.

Secrets are ``SecretStr`` and never appear in repr, logs or exceptions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

import httpx
from pydantic import BaseModel, SecretStr

from factory_common.tailscale.retry import RetryPolicy

__all__ = ["ApiToken", "OAuthClient", "TailscaleCredentials"]

#: Refresh an OAuth token this many seconds before the API says it expires.
EXPIRY_MARGIN_SECONDS = 60.0


class ApiToken(BaseModel):
    """An API access token (``tskey-api-…``), sent as ``Authorization: Bearer``."""

    token: SecretStr


class OAuthClient(BaseModel):
    """An OAuth client (``tskey-client-…``): exchanged for short-lived bearer tokens."""

    client_id: str
    client_secret: SecretStr
    scopes: tuple[str, ...] = ()


TailscaleCredentials = ApiToken | OAuthClient


class _OAuthToken(BaseModel):
    access_token: SecretStr
    token_type: str = "Bearer"  # noqa: S105 - a token kind, not a secret
    expires_in: float = 3600


class BearerAuth(httpx.Auth):
    """Adds a fixed bearer token."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


class OAuthClientAuth(httpx.Auth):
    """Client-credentials flow against ``POST /api/v2/oauth/token``, token cached until expiry.

    The token request goes through the same transport as every other call (so the test
    double sees it) and under the client's :class:`RetryPolicy`: a 429 or 5xx answer to it is
    sent again after ``Retry-After`` or the backoff, like any idempotent call (an extra access
    token changes nothing). A 401 on a call with a cached token drops the cache and retries
    that call once with a fresh token.
    """

    requires_response_body = True

    def __init__(
        self,
        client: OAuthClient,
        token_url: str,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._token_url = token_url
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._token: SecretStr | None = None
        self._valid_until = 0.0
        self.exchanges = 0

    def _token_request(self) -> httpx.Request:
        form = {
            "client_id": self._client.client_id,
            "client_secret": self._client.client_secret.get_secret_value(),
            "grant_type": "client_credentials",
        }
        if self._client.scopes:
            form["scope"] = " ".join(self._client.scopes)
        return httpx.Request("POST", self._token_url, data=form)

    def _store(self, response: httpx.Response) -> None:
        from factory_common.tailscale.api import error_from_response  # one translation point

        if response.status_code != 200:
            response.read()
            raise error_from_response(response)
        response.read()
        token = _OAuthToken.model_validate_json(response.content)
        self._token = token.access_token
        self._valid_until = self._clock() + max(0.0, token.expires_in - EXPIRY_MARGIN_SECONDS)
        self.exchanges += 1

    def _exchange(self) -> Generator[httpx.Request, httpx.Response, SecretStr | None]:
        """Send the token request (again while the policy says so); store and return it."""
        attempt = 0
        while True:
            response = yield self._token_request()
            delay = self._retry.delay(response, attempt, idempotent=True)
            if delay is None:
                break
            response.read()
            self._retry.sleep(delay)
            attempt += 1
        with self._lock:
            self._store(response)
            return self._token

    def _current(self) -> SecretStr | None:
        if self._token is not None and self._clock() < self._valid_until:
            return self._token
        return None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            token = self._current()
        fresh = token is None
        if token is None:
            token = yield from self._exchange()
        assert token is not None
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        response = yield request
        if response.status_code == 401 and not fresh:
            with self._lock:
                self._token = None
            token = yield from self._exchange()
            assert token is not None
            request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
            yield request


def build_auth(
    credentials: TailscaleCredentials, base_url: str, retry: RetryPolicy | None = None
) -> httpx.Auth:
    """The httpx auth flow for a set of credentials (``retry``: the client's policy)."""
    if isinstance(credentials, ApiToken):
        return BearerAuth(credentials.token)
    return OAuthClientAuth(credentials, base_url.rstrip("/") + "/oauth/token", retry)
