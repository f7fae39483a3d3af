"""registry_api against recorded registry answers (httpx MockTransport, nothing patched)."""

from __future__ import annotations

import httpx
import pytest
from factory_pipeline.registry_api import (
    MANIFEST_MEDIA_TYPES,
    DigestMismatch,
    RegistryAuthError,
    RegistryClient,
    RegistryResponseError,
    RegistryUnreachable,
)

DIGEST = "sha256:" + "ab" * 32


def client(handler) -> RegistryClient:
    return RegistryClient(
        "http://registry.test:5000", "ci", "pw", transport=httpx.MockTransport(handler)
    )


def test_head_manifest_sends_every_media_type_and_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Docker-Content-Digest": DIGEST})

    assert client(handler).manifest_digest("team/app", "v1") == DIGEST
    [request] = seen
    assert request.method == "HEAD"
    assert request.url.path == "/v2/team/app/manifests/v1"
    assert request.headers["Accept"].split(", ") == list(MANIFEST_MEDIA_TYPES)
    assert request.headers["Authorization"] == "Basic Y2k6cHc="


def test_unknown_tag_is_none_and_verify_reports_a_mismatch() -> None:
    responses = {
        "v1": httpx.Response(404),
        "v2": httpx.Response(200, headers={"Docker-Content-Digest": DIGEST}),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return responses[request.url.path.rsplit("/", 1)[1]]

    api = client(handler)
    assert api.manifest_digest("app", "v1") is None
    with pytest.raises(DigestMismatch, match="nothing"):
        api.verify_digest("app", "v1", DIGEST)
    other = "sha256:" + "cd" * 32
    with pytest.raises(DigestMismatch) as info:
        api.verify_digest("app", "v2", other)
    assert info.value.actual == DIGEST
    assert info.value.expected == other
    assert api.verify_digest("app", "v2", DIGEST) == DIGEST


def test_401_is_an_auth_error_without_the_password() -> None:
    api = client(
        lambda request: httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
    )
    with pytest.raises(RegistryAuthError) as info:
        api.catalog()
    assert info.value.status == 401
    assert "pw" not in str(info.value)
    assert api.ping().status == 401
    assert not api.ping().authenticated


def test_pagination_follows_link_headers() -> None:
    pages = {
        None: (["a", "b"], '</v2/_catalog?last=b&n=2>; rel="next"'),
        "b": (["c"], None),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        repos, link = pages[request.url.params.get("last")]
        headers = {"Link": link} if link else {}
        return httpx.Response(200, json={"repositories": repos}, headers=headers)

    assert client(handler).catalog() == ["a", "b", "c"]


def test_tags_of_an_unknown_repository_are_empty() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/known/tags/list":
            return httpx.Response(200, json={"name": "known", "tags": ["1", "2"]})
        return httpx.Response(404, json={"errors": [{"code": "NAME_UNKNOWN"}]})

    api = client(handler)
    assert api.tags("known") == ["1", "2"]
    assert api.tags("missing") == []


def test_transport_failures_and_odd_answers_are_translated() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(RegistryUnreachable):
        client(refuse).ping()
    with pytest.raises(RegistryResponseError, match="Docker-Content-Digest"):
        client(lambda r: httpx.Response(200)).manifest_digest("app", "v1")
    with pytest.raises(RegistryResponseError, match="unexpected 500"):
        client(lambda r: httpx.Response(500)).tags("app")


@pytest.mark.parametrize("name", ["../etc", "App", "a//b", ""])
def test_repository_names_are_validated(name: str) -> None:
    with pytest.raises(ValueError, match="repository"):
        client(lambda r: httpx.Response(200)).manifest_digest(name, "v1")
