"""Who may read without a token: `auth.trusted_networks`, `auth.trusted_proxies` and the
`docker-gateway` keyword, through the app in-process from chosen peer addresses."""

from __future__ import annotations

from pathlib import Path

import pytest
from factory_analytics.config import AnalyticsConfig, AuthConfig, ConfigError, load_config
from factory_analytics.testing.seed import NOW
from factory_analytics.web.access import AccessPolicy, default_ipv4_gateway
from factory_analytics.web.app import create_app
from pydantic import SecretStr

from tests.test_api import call

GATEWAY = "172.18.0.1"  # what Docker's port publishing makes a host request come from


def status(config: AnalyticsConfig, auth: AuthConfig, peer: str, **headers: str) -> int:
    policy = AccessPolicy.from_config(auth, gateway=lambda: GATEWAY)
    app = create_app(config, SecretStr("t0ken"), clock=lambda: NOW, access=policy)
    sent = {k.replace("_", "-"): v for k, v in headers.items()}
    return call(app, "/api/v1/usage?days=1", peer, sent).status_code


def test_by_default_the_docker_gateway_needs_a_token(seeded_config: AnalyticsConfig) -> None:
    # the deployed symptom: 127.0.0.1:8101 on the host arrives as the bridge gateway
    policy = AccessPolicy.from_config(seeded_config.auth)
    app = create_app(seeded_config, SecretStr("t0ken"), clock=lambda: NOW, access=policy)
    r = call(app, "/widget", GATEWAY)
    assert r.status_code == 401
    assert (
        f"comes from {GATEWAY}, which is not in auth.trusted_networks"
        in r.json()["error"]["message"]
    )


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        (GATEWAY, 200),  # the host, through the loopback-published port
        ("127.0.0.1", 200),
        ("172.18.0.5", 401),  # another container on the same network: still a token
        ("100.64.0.9", 401),  # the list replaces the defaults: the tailnet is not in it
    ],
)
def test_docker_gateway_keyword_trusts_exactly_the_gateway(
    seeded_config: AnalyticsConfig, peer: str, expected: int
) -> None:
    auth = AuthConfig(trusted_networks=["127.0.0.0/8", "docker-gateway"])
    assert status(seeded_config, auth, peer) == expected


def test_an_explicit_gateway_address_and_ranges(seeded_config: AnalyticsConfig) -> None:
    auth = AuthConfig(trusted_networks=["172.18.0.1", "10.1.0.0/16", "::1/128"])
    assert status(seeded_config, auth, "172.18.0.1") == 200
    assert status(seeded_config, auth, "10.1.200.3") == 200
    assert status(seeded_config, auth, "::ffff:10.1.0.7") == 200  # IPv4-mapped
    assert status(seeded_config, auth, "::1") == 200
    assert status(seeded_config, auth, "10.2.0.1") == 401
    assert status(seeded_config, auth, "127.0.0.1") == 401  # not listed, not trusted


def test_a_token_still_works_from_an_untrusted_network(seeded_config: AnalyticsConfig) -> None:
    auth = AuthConfig()
    assert status(seeded_config, auth, "203.0.113.7", authorization="Bearer t0ken") == 200
    assert status(seeded_config, auth, "203.0.113.7", authorization="Bearer nope") == 401


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # a peer that is no trusted proxy: its X-Forwarded-For is client input, ignored
        ("203.0.113.7", "100.64.0.7", 401),
        ("172.18.0.5", "127.0.0.1", 401),
        # behind the trusted proxy the forwarded client is judged, not the proxy
        ("127.0.0.1", "100.64.0.7", 200),
        ("127.0.0.1", "203.0.113.9", 401),  # e.g. Funnel: internet clients via a local proxy
        ("127.0.0.1", "[fd7a:115c:a1e0::4]:443", 200),
        # a client that prepends a tailnet address to its own header gains nothing
        ("127.0.0.1", "100.64.0.7, 203.0.113.9", 401),
        # two proxies in a row: both skipped, the client before them decides
        ("127.0.0.1", "100.64.0.7, 172.18.0.2", 200),
        ("127.0.0.1", "203.0.113.9, 172.18.0.2", 401),
        ("127.0.0.1", "not-an-address", 401),
        ("127.0.0.1", None, 200),  # the proxy host itself (loopback is trusted)
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    seeded_config: AnalyticsConfig, peer: str, forwarded_for: str | None, expected: int
) -> None:
    auth = AuthConfig(trusted_proxies=["127.0.0.1", "172.18.0.2"])
    headers = {} if forwarded_for is None else {"x_forwarded_for": forwarded_for}
    assert status(seeded_config, auth, peer, **headers) == expected


def test_several_forwarded_for_headers_are_read_as_one_list() -> None:
    policy = AccessPolicy.from_config(AuthConfig(trusted_proxies=["127.0.0.1"]))
    assert str(policy.client("127.0.0.1", ["100.64.0.7", "203.0.113.9"])) == "203.0.113.9"
    assert str(policy.client("127.0.0.1", ["100.64.0.7, 127.0.0.1"])) == "100.64.0.7"


def test_config_file_auth_section_with_file_and_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("auth:\n  trusted_networks:\n    - 127.0.0.0/8\n    - docker-gateway\n")
    cfg = load_config(path, environ={})
    assert cfg.auth.trusted_networks == ["127.0.0.0/8", "docker-gateway"]
    assert cfg.auth.trusted_proxies == []
    path.write_text("auth:\n  trusted_networks:\n    - 127.0.0.0/8\n    - 172.18.0.1/16\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert f"{path}:4: auth.trusted_networks.1" in str(info.value)
    assert "host bits set" in str(info.value)
    path.write_text("auth:\n  trusted_proxies: [nginx]\n")
    with pytest.raises(ConfigError, match="'nginx' is not a network"):
        load_config(path, environ={})


def test_defaults_are_loopback_and_the_tailnet() -> None:
    assert AuthConfig().trusted_networks == [
        "127.0.0.0/8",
        "::1/128",
        "100.64.0.0/10",
        "fd7a:115c:a1e0::/48",
    ]


def test_docker_gateway_without_a_default_route_is_a_configuration_error() -> None:
    auth = AuthConfig(trusted_networks=["docker-gateway"])
    with pytest.raises(ConfigError, match="docker-gateway: this process has no default IPv4"):
        AccessPolicy.from_config(auth, gateway=lambda: None)


def test_default_gateway_from_a_recorded_route_table(tmp_path: Path) -> None:
    # /proc/net/route inside a container on a 172.18.0.0/16 bridge
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    )
    assert default_ipv4_gateway(table) == "172.18.0.1"
    table.write_text(table.read_text().splitlines()[0] + "\n")
    assert default_ipv4_gateway(table) is None
    assert default_ipv4_gateway(tmp_path / "missing") is None
