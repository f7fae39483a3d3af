"""The Tailscale API test double follows Tailscale's API v2 reference where a lenient double
would hide a client bug: OAuth scopes and token lifetime, body formats, key listing and
validity, malformed tests. Driven over real HTTP, through the client where it has a call."""

from __future__ import annotations

import httpx
import pytest
from factory_common.tailscale.api import (
    ApiToken,
    OAuthClient,
    TailscaleAPIError,
    TailscaleAuthError,
    TailscaleClient,
)
from factory_common_testing.fixtures import POLICY
from factory_common_testing.tailscale_double import RunningDouble
from pydantic import SecretStr

COMMENTED = "// a comment makes this HuJSON, not JSON\n" + POLICY


def oauth(ts: RunningDouble, *, held: tuple[str, ...], asked: tuple[str, ...] = ()):
    client_id, secret = ts.api.add_oauth_client(scopes=held, tags=("tag:ci",))
    credentials = OAuthClient(client_id=client_id, client_secret=SecretStr(secret), scopes=asked)
    return TailscaleClient(credentials, base_url=ts.base_url, sleep=lambda _s: None)


def post(ts: RunningDouble, path: str, body: str, content_type: str) -> httpx.Response:
    return httpx.post(
        f"{ts.base_url}/tailnet/-/{path}",
        content=body.encode(),
        headers={"Authorization": f"Bearer {ts.api_token}", "Content-Type": content_type},
    )


# -- OAuth ---------------------------------------------------------------------------------
def test_a_token_gets_no_scope_its_client_does_not_hold(ts: RunningDouble):
    with oauth(ts, held=("policy_file:read",), asked=("all",)) as client:
        assert client.validate_policy(POLICY).ok
        with pytest.raises(TailscaleAuthError) as caught:
            client.set_policy(POLICY, if_match=ts.api.etag)
        assert caught.value.status == 403
        with pytest.raises(TailscaleAuthError):
            client.list_devices()
    assert ts.api.policy_text == POLICY


def test_a_narrower_request_than_the_client_holds_is_what_the_token_gets(ts: RunningDouble):
    with oauth(ts, held=("all",), asked=("policy_file:read",)) as client:
        assert client.get_policy().text == POLICY
        with pytest.raises(TailscaleAuthError):
            client.set_policy(POLICY, if_match=ts.api.etag)


def test_asking_only_for_scopes_the_client_lacks_is_refused(ts: RunningDouble):
    with (
        oauth(ts, held=("policy_file:read",), asked=("dns",)) as client,
        pytest.raises(TailscaleAPIError) as caught,
    ):
        client.get_nameservers()
    assert caught.value.status == 400
    assert ts.api.calls("GET", "/dns/nameservers") == []


def test_a_token_lives_exactly_the_expires_in_it_was_given(ts: RunningDouble):
    ts.api.oauth_token_lifetime = 120
    with oauth(ts, held=("all",)) as client:
        client.get_nameservers()
        ts.api.advance(119)
        client.get_nameservers()  # still valid on the double's clock
        assert client.oauth_exchanges == 1
        ts.api.advance(2)
        # The client's own clock has not moved, so it still uses the token: the double
        # refuses it (401) and the client exchanges again and repeats the call once.
        client.get_nameservers()
        assert client.oauth_exchanges == 2
    statuses = [r.status for r in ts.api.calls("GET", "/dns/nameservers")]
    assert statuses == [200, 200, 401, 200]


def test_a_client_refreshes_a_short_lived_token_before_the_api_refuses_it(ts: RunningDouble):
    ts.api.oauth_token_lifetime = 30  # inside the client's refresh margin: always stale
    with oauth(ts, held=("all",)) as client:
        client.get_nameservers()
        ts.api.advance(31)  # the first token is now expired at the API
        client.get_nameservers()
        assert client.oauth_exchanges == 2
    assert [r.status for r in ts.api.calls("GET", "/dns/nameservers")] == [200, 200]


# -- body formats ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["acl", "acl/validate"])
def test_hujson_needs_its_content_type(ts: RunningDouble, path: str):
    refused = post(ts, path, COMMENTED, "application/json")
    assert refused.status_code == 400
    assert "application/hujson" in refused.json()["message"]
    assert ts.api.policy_text == POLICY
    accepted = post(ts, path, COMMENTED, "application/hujson")
    assert accepted.status_code == 200


@pytest.mark.parametrize("path", ["acl", "acl/validate"])
def test_a_json_policy_may_be_sent_as_json(ts: RunningDouble, path: str):
    as_json = httpx.get(
        f"{ts.base_url}/tailnet/-/acl",
        headers={"Authorization": f"Bearer {ts.api_token}", "Accept": "application/json"},
    ).text
    assert post(ts, path, as_json, "application/json").status_code == 200


def test_a_test_without_src_is_malformed(client: TailscaleClient):
    with pytest.raises(TailscaleAPIError) as caught:
        client.test_policy([{"accept": ["tag:forgejo:443"]}])
    assert caught.value.status == 400
    assert "src" in caught.value.message
    no_src = POLICY.replace('{"src": "tag:ci", "accept"', '{"accept"')
    assert no_src != POLICY
    with pytest.raises(TailscaleAPIError) as validated:
        client.validate_policy(no_src)
    assert validated.value.status == 400


# -- keys --------------------------------------------------------------------------------------
def test_keys_are_listed_per_owner_and_all_types_only_on_request(ts: RunningDouble):
    other_user = ts.api.add_api_token(user_id="u0002")
    mine_client = TailscaleClient(ApiToken(token=SecretStr(ts.api_token)), base_url=ts.base_url)
    theirs_client = TailscaleClient(ApiToken(token=SecretStr(other_user)), base_url=ts.base_url)
    with mine_client as mine, theirs_client as theirs, oauth(ts, held=("all",)) as tailnet:
        my_key = mine.create_auth_key(tags=["tag:ci"])
        their_key = theirs.create_auth_key(tags=["tag:ci"])
        tailnet_key = tailnet.create_auth_key(tags=["tag:ci"])
        client_key = ts.api.add_key("client", user_id="")
        assert [k.id for k in mine.list_keys()] == [my_key.id]
        assert [k.id for k in theirs.list_keys()] == [their_key.id]
        assert [k.id for k in tailnet.list_keys(all_types=False)] == [tailnet_key.id]
        assert [k.id for k in tailnet.list_keys()] == [tailnet_key.id, client_key["id"]]
    queries = [r.query for r in ts.api.calls("GET", "/keys")]
    assert queries[-2:] == [{}, {"all": ["true"]}]


def test_an_expired_key_is_invalid_and_cannot_register_a_node(
    client: TailscaleClient, ts: RunningDouble
):
    created = client.create_auth_key(tags=["tag:ci"], expiry_seconds=600)
    ts.api.advance(599)
    assert not client.get_key(created.id).invalid
    ts.api.advance(2)
    assert client.get_key(created.id).invalid
    assert [k.invalid for k in client.list_keys()] == [True]
    with pytest.raises(ValueError, match="invalid key"):
        ts.api.register_node(created.key.get_secret_value(), "ci")
