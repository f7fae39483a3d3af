"""The one Tailscale API v2 client, shared by the reconciler and the analytics service.

Facts followed: Tailscale's API v2 reference (paths, bodies, statuses, headers). Design:

- httpx with an injectable transport: production uses the default HTTPS transport; tests
  point ``base_url`` at :mod:`factory_common_testing.tailscale_double` (real HTTP on loopback) or
  pass ``httpx.MockTransport``. Nothing is built at import time.
- Credentials are an API access token (bearer) or an OAuth client whose token is cached
  until it expires (:mod:`factory_common.tailscale.auth`).
- The tailnet defaults to ``-`` (the token's own tailnet).
- retries (:mod:`factory_common.tailscale.retry`, the same policy for the OAuth token exchange):
  429 always, honouring ``Retry-After`` (the API refused the request); 5xx and connection
  failures with exponential backoff, but only for calls that are safe to repeat. Not retried
  on 5xx: minting an auth key (the facts promise for no 5xx that nothing was done, and a
  repeat could leave an extra key nobody knows about) and setting the policy (a repeat after
  a lost success would meet 412 and be reported as a console edit).
- httpx exceptions and error statuses are translated here and nowhere else, into
  :mod:`factory_common.tailscale.errors`, carrying Tailscale's own ``message``.

The client is synchronous: the reconciler is, and the analytics service calls it from a
worker thread.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from factory_common.env_secrets import read_env_secret
from factory_common.tailscale.auth import (
    ApiToken,
    OAuthClient,
    OAuthClientAuth,
    TailscaleCredentials,
    build_auth,
)
from factory_common.tailscale.errors import (
    TailscaleAPIError,
    TailscaleAuthError,
    TailscaleError,
    TailscaleNotFound,
    TailscalePreconditionFailed,
    TailscaleRateLimited,
    TailscaleUnreachable,
)
from factory_common.tailscale.models import (
    AuthKey,
    CreatedAuthKey,
    Device,
    DnsNameservers,
    DnsPreferences,
    PolicyFile,
    PolicyValidation,
)
from factory_common.tailscale.retry import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "ApiToken",
    "AuthKey",
    "CreatedAuthKey",
    "Device",
    "DnsNameservers",
    "DnsPreferences",
    "OAuthClient",
    "PolicyFile",
    "PolicyValidation",
    "TailscaleAPIError",
    "TailscaleAuthError",
    "TailscaleClient",
    "TailscaleCredentials",
    "TailscaleError",
    "TailscaleNotFound",
    "TailscalePreconditionFailed",
    "TailscaleRateLimited",
    "TailscaleUnreachable",
    "credentials_from_env",
    "error_from_response",
]

DEFAULT_BASE_URL = "https://api.tailscale.com/api/v2"
HUJSON = "application/hujson"


def error_from_response(response: httpx.Response) -> TailscaleAPIError:
    """Translate an error response into the matching exception, keeping Tailscale's message."""
    message, data = _message_of(response)
    kwargs = {"method": response.request.method, "path": response.request.url.path, "data": data}
    status = response.status_code
    if status in (401, 403):
        return TailscaleAuthError(status, message, **kwargs)
    if status == 404:
        return TailscaleNotFound(status, message, **kwargs)
    if status == 412:
        return TailscalePreconditionFailed(status, message, **kwargs)
    if status == 429:
        return TailscaleRateLimited(status, message, **kwargs)
    return TailscaleAPIError(status, message, **kwargs)


def _message_of(response: httpx.Response) -> tuple[str, Any]:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:300]
        return (text or response.reason_phrase or "no message"), None
    if isinstance(body, dict):
        return str(body.get("message") or response.reason_phrase or "no message"), body.get("data")
    return response.reason_phrase or "no message", body


class TailscaleClient:
    """Typed calls to the Tailscale API v2 for one tailnet.

    >>> client = TailscaleClient(ApiToken(token="tskey-api-..."))  # doctest: +SKIP
    >>> client.get_policy().etag  # doctest: +SKIP
    """

    def __init__(
        self,
        credentials: TailscaleCredentials,
        *,
        tailnet: str = "-",
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "chocolate-factory-gitops",
    ) -> None:
        self.tailnet = tailnet or "-"
        self.base_url = base_url.rstrip("/")
        self.retry = RetryPolicy(max_retries, backoff_seconds, sleep)
        self._auth = build_auth(credentials, self.base_url, self.retry)
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            transport=transport,
            timeout=timeout,
            auth=self._auth,
            headers={"User-Agent": user_agent},
        )
        # Connections are closed when the client is collected even if nobody calls close()
        # (an engine embedding many providers need not track their clients).
        self._finalizer = weakref.finalize(self, self._http.close)

    # -- plumbing --------------------------------------------------------------------------
    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> TailscaleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def max_retries(self) -> int:
        return self.retry.max_retries

    @property
    def oauth_exchanges(self) -> int:
        """How many OAuth token exchanges happened (0 for an API token)."""
        return self._auth.exchanges if isinstance(self._auth, OAuthClientAuth) else 0

    def _tailnet_path(self, suffix: str) -> str:
        return f"tailnet/{quote(self.tailnet, safe='')}/{suffix}"

    def _request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        ok: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries; return a success response or raise a translated error."""
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if idempotent and attempt < self.retry.max_retries:
                    self.retry.sleep(self.retry.backoff(attempt))
                    attempt += 1
                    continue
                raise TailscaleUnreachable(
                    f"{method} {self.base_url}/{path}: {type(exc).__name__}: {exc}"
                ) from None
            if response.status_code in ok:
                return response
            delay = self.retry.delay(response, attempt, idempotent=idempotent)
            if delay is None:
                raise error_from_response(response)
            self.retry.sleep(delay)
            attempt += 1

    # -- policy file -----------------------------------------------------------------------
    def get_policy(self) -> PolicyFile:
        """The policy as HuJSON text (comments kept) with its ETag."""
        response = self._request("GET", self._tailnet_path("acl"), headers={"Accept": HUJSON})
        return PolicyFile(text=response.text, etag=response.headers.get("ETag", ""))

    def set_policy(self, text: str, *, if_match: str) -> PolicyFile:
        """Replace the policy only if its ETag is still ``if_match`` (412 otherwise).

        Not repeated after a 5xx: if the lost answer was a success, the repeat would meet
        412 (the ETag moved on) and be reported as an edit in the admin console."""
        etag = if_match if if_match.startswith('"') else f'"{if_match}"'
        response = self._request(
            "POST",
            self._tailnet_path("acl"),
            idempotent=False,
            content=text.encode(),
            headers={"Content-Type": HUJSON, "Accept": HUJSON, "If-Match": etag},
        )
        return PolicyFile(text=response.text, etag=response.headers.get("ETag", ""))

    def validate_policy(self, text: str) -> PolicyValidation:
        """Parse a policy and run its ``tests`` without changing anything.

        The API answers 200 even when validation fails; the failure is in the body."""
        response = self._request(
            "POST",
            self._tailnet_path("acl/validate"),
            content=text.encode(),
            headers={"Content-Type": HUJSON, "Accept": "application/json"},
        )
        return _validation(response)

    def test_policy(self, tests: list[dict[str, Any]]) -> PolicyValidation:
        """Run ACL tests (a JSON array) against the tailnet's current policy."""
        response = self._request("POST", self._tailnet_path("acl/validate"), json=tests)
        return _validation(response)

    # -- devices ---------------------------------------------------------------------------
    def list_devices(self, *, fields: str = "default", **filters: str) -> list[Device]:
        """All devices; ``filters`` are the API's exact-match query filters (ANDed).

        ``fields="all"`` falls back to the default fields when the API answers 404, which it
        does for tailnets with shared-in devices since Oct 2026."""
        params = {"fields": fields, **filters}
        try:
            response = self._request("GET", self._tailnet_path("devices"), params=params)
        except TailscaleNotFound:
            if fields != "all":
                raise
            # fields=all 404s when the tailnet has shared-in devices (tailscale#21721)
            params["fields"] = "default"
            response = self._request("GET", self._tailnet_path("devices"), params=params)
        return [Device.model_validate(d) for d in response.json().get("devices", [])]

    def get_device(self, device_id: str, *, fields: str = "default") -> Device:
        response = self._request("GET", f"device/{quote(device_id)}", params={"fields": fields})
        return Device.model_validate(response.json())

    def set_device_tags(self, device_id: str, tags: list[str]) -> None:
        self._request("POST", f"device/{quote(device_id)}/tags", json={"tags": sorted(tags)})

    def set_device_authorized(self, device_id: str, authorized: bool) -> None:
        self._request(
            "POST", f"device/{quote(device_id)}/authorized", json={"authorized": authorized}
        )

    def delete_device(self, device_id: str) -> None:
        self._request("DELETE", f"device/{quote(device_id)}", ok=(200, 204))

    # -- auth keys -------------------------------------------------------------------------
    def create_auth_key(
        self,
        *,
        tags: list[str],
        reusable: bool = False,
        ephemeral: bool = False,
        preauthorized: bool = True,
        expiry_seconds: int = 600,
        description: str = "",
    ) -> CreatedAuthKey:
        """Mint an auth key; the secret is in the answer once and never again.

        Sent again only after a 429 (a refusal). After a 5xx or a lost connection the
        error is raised: the key may exist, and a second one would be unaccounted for."""
        body = {
            "keyType": "auth",
            "capabilities": {
                "devices": {
                    "create": {
                        "reusable": reusable,
                        "ephemeral": ephemeral,
                        "preauthorized": preauthorized,
                        "tags": sorted(tags),
                    }
                }
            },
            "expirySeconds": expiry_seconds,
            "description": description[:50],
        }
        response = self._request("POST", self._tailnet_path("keys"), json=body, idempotent=False)
        return CreatedAuthKey.model_validate(response.json())

    def list_keys(self, *, all_types: bool = True) -> list[AuthKey]:
        params = {"all": "true"} if all_types else {}
        response = self._request("GET", self._tailnet_path("keys"), params=params)
        return [AuthKey.model_validate(k) for k in response.json().get("keys", [])]

    def get_key(self, key_id: str) -> AuthKey:
        response = self._request("GET", self._tailnet_path(f"keys/{quote(key_id)}"))
        return AuthKey.model_validate(response.json())

    def delete_key(self, key_id: str) -> None:
        self._request("DELETE", self._tailnet_path(f"keys/{quote(key_id)}"), ok=(200, 204))

    # -- DNS -------------------------------------------------------------------------------
    def get_nameservers(self) -> DnsNameservers:
        response = self._request("GET", self._tailnet_path("dns/nameservers"))
        return DnsNameservers.model_validate(response.json())

    def set_nameservers(self, nameservers: list[str]) -> DnsNameservers:
        response = self._request(
            "POST", self._tailnet_path("dns/nameservers"), json={"dns": list(nameservers)}
        )
        return DnsNameservers.model_validate(response.json())

    def get_dns_preferences(self) -> DnsPreferences:
        response = self._request("GET", self._tailnet_path("dns/preferences"))
        return DnsPreferences.model_validate(response.json())

    def set_dns_preferences(self, *, magic_dns: bool) -> DnsPreferences:
        response = self._request(
            "POST", self._tailnet_path("dns/preferences"), json={"magicDNS": magic_dns}
        )
        return DnsPreferences.model_validate(response.json())

    def get_search_paths(self) -> list[str]:
        response = self._request("GET", self._tailnet_path("dns/searchpaths"))
        return list(response.json().get("searchPaths") or [])

    def set_search_paths(self, paths: list[str]) -> list[str]:
        response = self._request(
            "POST", self._tailnet_path("dns/searchpaths"), json={"searchPaths": list(paths)}
        )
        return list(response.json().get("searchPaths") or [])


def _validation(response: httpx.Response) -> PolicyValidation:
    if not response.content.strip():
        return PolicyValidation(ok=True)
    body = response.json()
    if not isinstance(body, dict) or not body.get("message"):
        return PolicyValidation(ok=True)
    return PolicyValidation(ok=False, message=str(body["message"]), data=body.get("data") or [])


def credentials_from_env(
    environ: Mapping[str, str] | None = None,
) -> TailscaleCredentials | None:
    """Credentials from the conventional environment variables, or None when there are none.

    ``TAILSCALE_API_KEY`` (or ``TAILSCALE_API_KEY_FILE``) wins; otherwise
    ``TAILSCALE_OAUTH_CLIENT_ID`` + ``TAILSCALE_OAUTH_CLIENT_SECRET`` (or ``…_SECRET_FILE``).
    A variable or file that is set but empty raises EnvSecretError (factory_common.env_secrets),
    instead of silently meaning "no credentials".
    """
    env = os.environ if environ is None else environ
    api_key = read_env_secret("TAILSCALE_API_KEY", env)
    if api_key:
        return ApiToken(token=SecretStr(api_key))
    client_id = env.get("TAILSCALE_OAUTH_CLIENT_ID", "").strip()
    secret = read_env_secret("TAILSCALE_OAUTH_CLIENT_SECRET", env)
    if client_id and secret:
        return OAuthClient(client_id=client_id, client_secret=SecretStr(secret))
    return None
