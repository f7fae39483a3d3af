"""The private registry's HTTP API, as the pipeline and the reconciler use it.

Why: a push is only trusted once the registry itself reports the digest the push produced,
so the pipeline can deploy by digest (`gitops apply --image svc=reg/name@sha256:…`) instead of
by a moving tag. This module asks the registry (distribution v2 API,
docs/content/spec/api.md) and never writes to it: `HEAD` a manifest with the full Accept list
(without it the registry may convert the manifest and answer with another digest), list
tags and the catalog following `Link: …; rel="next"` pages, and ping `/v2/`.

The transport is injectable (`httpx.Client(transport=…)`); httpx exceptions are translated
into the errors below in exactly one place (`_send`). Credentials never appear in messages.

    RegistryError
    ├── RegistryUnreachable   connect/read failure, timeouts
    ├── RegistryAuthError     401/403 (wrong or missing credentials)
    ├── RegistryResponseError any other unexpected status or a malformed answer
    └── DigestMismatch        the tag points at another digest than the push reported
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

__all__ = [
    "MANIFEST_MEDIA_TYPES",
    "DigestMismatch",
    "Ping",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryError",
    "RegistryResponseError",
    "RegistryUnreachable",
]

MANIFEST_MEDIA_TYPES: tuple[str, ...] = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_PAGE_SIZE = 100


class RegistryError(Exception):
    """Root of every error this module raises."""


class RegistryUnreachable(RegistryError):
    """The registry did not answer (connection refused, DNS, timeout)."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials (or none were given) with 401 or 403."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RegistryResponseError(RegistryError):
    """An answer the API does not allow for this request."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class DigestMismatch(RegistryError):
    """The registry serves another manifest for the tag than the push produced."""

    def __init__(self, reference: str, expected: str, actual: str | None) -> None:
        found = actual or "nothing (tag unknown)"
        super().__init__(f"{reference}: the registry serves {found}, the push reported {expected}")
        self.reference = reference
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class Ping:
    """What `GET /v2/` said: alive either way, `authenticated` only on 200."""

    status: int
    api_version: str | None

    @property
    def authenticated(self) -> bool:
        return self.status == 200


class RegistryClient:
    """A read-only client for one registry, with optional Basic credentials.

    `base_url` is the registry root (`http://127.0.0.1:5000`); build one per registry and
    close it (or use it as a context manager).
    """

    def __init__(
        self,
        base_url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._base = base_url.rstrip("/") + "/"
        self._http = httpx.Client(
            base_url=self._base, auth=auth, transport=transport, timeout=timeout
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def ping(self) -> Ping:
        """`GET /v2/`: 200 (credentials accepted) or 401 (alive, auth required)."""
        response = self._send("GET", "v2/", allow=(200, 401))
        return Ping(response.status_code, response.headers.get("Docker-Distribution-API-Version"))

    def manifest_digest(self, name: str, reference: str) -> str | None:
        """The digest the registry serves for `name:reference`, or None when it is unknown."""
        response = self._send(
            "HEAD",
            f"v2/{_repository(name)}/manifests/{reference}",
            headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)},
            allow=(200, 404),
        )
        if response.status_code == 404:
            return None
        digest = response.headers.get("Docker-Content-Digest", "")
        if not _DIGEST.match(digest):
            raise RegistryResponseError(
                f"HEAD manifest {name}:{reference}: no valid Docker-Content-Digest header", 200
            )
        return digest

    def verify_digest(self, name: str, tag: str, expected: str) -> str:
        """Raise DigestMismatch unless `name:tag` resolves to `expected`; return the digest."""
        actual = self.manifest_digest(name, tag)
        if actual != expected:
            raise DigestMismatch(f"{name}:{tag}", expected, actual)
        return actual

    def tags(self, name: str) -> list[str]:
        """Every tag of a repository (all pages); empty when the repository is unknown."""
        items: list[str] = []
        for page in self._pages(f"v2/{_repository(name)}/tags/list", missing_ok=True):
            items.extend(page.get("tags") or [])
        return items

    def catalog(self) -> list[str]:
        """Every repository the registry holds (all pages of `/v2/_catalog`)."""
        items: list[str] = []
        for page in self._pages("v2/_catalog", missing_ok=False):
            items.extend(page.get("repositories") or [])
        return items

    def _pages(self, path: str, *, missing_ok: bool) -> list[dict]:
        pages: list[dict] = []
        url: str | None = f"{path}?n={_PAGE_SIZE}"
        while url:
            allow = (200, 404) if missing_ok else (200,)
            response = self._send("GET", url, allow=allow)
            if response.status_code == 404:
                return pages
            try:
                body = response.json()
            except ValueError as exc:
                raise RegistryResponseError(f"GET {path}: the answer is not JSON", 200) from exc
            if not isinstance(body, dict):
                raise RegistryResponseError(f"GET {path}: expected a JSON object", 200)
            pages.append(body)
            match = _NEXT_LINK.search(response.headers.get("Link", ""))
            url = urljoin(self._base, match.group(1)) if match else None
        return pages

    def _send(
        self,
        method: str,
        url: str,
        *,
        allow: tuple[int, ...],
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """The one place httpx exceptions and statuses become this module's errors."""
        what = f"{method} {url.split('?')[0]}"
        try:
            response = self._http.request(method, url, headers=headers)
        except httpx.TimeoutException as exc:
            raise RegistryUnreachable(f"{what}: timed out ({self._base})") from exc
        except httpx.TransportError as exc:
            raise RegistryUnreachable(f"{what}: {type(exc).__name__} ({self._base})") from exc
        if response.status_code in allow:
            return response
        if response.status_code in (401, 403):
            raise RegistryAuthError(
                f"{what}: {response.status_code}, the registry refused the credentials",
                response.status_code,
            )
        raise RegistryResponseError(
            f"{what}: unexpected {response.status_code}", response.status_code
        )


def _repository(name: str) -> str:
    """Validate a repository path (`team/app`) so it cannot escape the URL it is put in."""
    if not re.fullmatch(
        r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*", name
    ):
        raise ValueError(f"invalid repository name {name!r} (lower-case path components)")
    return name
