"""Pure parts on literal inputs: device decisions, policy decisions, sidecar rendering,
and the test double's own policy evaluator (so the double itself is trustworthy)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from factory_common.tailscale import hujson
from factory_common.tailscale.models import Device, PolicyFile
from factory_common_testing import policy_problems, run_tests
from reconciler.errors import PlanError
from reconciler.providers.docker.node_state import logged_in
from reconciler.providers.tailscale.desired import SidecarNode, TailnetSettings
from reconciler.providers.tailscale.devices import decide_devices
from reconciler.providers.tailscale.planning import (
    TailnetObserved,
    desired_device_tags,
    plan_tailnet,
)
from reconciler.providers.tailscale.policy import DesiredPolicy, decide_policy, marked_text
from reconciler.providers.tailscale.sidecar import listened_ports, serve_config
from reconciler.resources import ContainerSpec, DesiredState, Healthcheck, PortSpec
from reconciler.source import SourceLocation

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HERE = SourceLocation(file="gitops/x.yaml", line=1, column=1)


def device(host: str, node: str, *, tags=(), online=True, seen_days=0.0, name="") -> Device:
    data = {
        "nodeId": node,
        "hostname": host,
        "name": name or f"{host}.t.ts.net",
        "tags": list(tags),
        "connectedToControl": online,
        "created": (NOW - timedelta(days=90)).isoformat(),
    }
    if not online:
        data["lastSeen"] = (NOW - timedelta(days=seen_days)).isoformat()
    return Device.model_validate(data)


def decide(devices, desired=None, *, dups=None, stale=None):
    return decide_devices(
        devices,
        desired or {},
        managed_tags=frozenset(t for tags in (desired or {}).values() for t in tags),
        now=NOW,
        prune_duplicates_after=dups,
        prune_stale_after=stale,
        stale_report_after=timedelta(days=30),
    )


def test_online_is_derived_without_an_online_field():
    assert device("a", "n1", online=True).is_online(NOW)
    assert not device("a", "n1", online=False, seen_days=1).is_online(NOW)
    recent = Device.model_validate({"hostname": "a", "lastSeen": NOW.isoformat()})
    assert recent.is_online(NOW + timedelta(minutes=2))
    assert not recent.is_online(NOW + timedelta(minutes=10))
    assert Device.model_validate({"hostname": "a"}).is_online(NOW)  # lastSeen absent: connected
    # the API has no `online` field: one in the body (a proxy's, an old fixture's) is ignored
    stray = {"hostname": "a", "online": False, "connectedToControl": True}
    assert Device.model_validate(stray).is_online(NOW)
    gone = {
        "hostname": "a",
        "online": True,
        "connectedToControl": False,
        "lastSeen": (NOW - timedelta(days=1)).isoformat(),
    }
    assert not Device.model_validate(gone).is_online(NOW)


def test_the_most_recently_connected_duplicate_is_kept():
    old = device("app", "n1", tags=["tag:app"], online=False, seen_days=3)
    new = device("app", "n2", tags=["tag:app"], name="app-1.t.ts.net")
    (only,) = decide([old, new], {"app": ("tag:app",)}, dups=timedelta(days=1))
    assert (only.kind, only.node_id) == ("delete", "n1")


def test_online_duplicates_and_young_ones_are_only_reported():
    first = device("app", "n1", tags=["tag:app"])
    online_dup = device("app", "n2", tags=["tag:app"], name="app-1.t.ts.net")
    young = device("app", "n3", tags=["tag:app"], online=False, seen_days=0.1)
    out = decide([first, online_dup, young], {"app": ("tag:app",)}, dups=timedelta(days=1))
    assert {d.node_id: d.kind for d in out} == {"n2": "note", "n3": "note"}


def test_foreign_nodes_are_never_deleted():
    laptop = device("laptop", "n1", online=False, seen_days=99)
    ours = device("ci", "n2", tags=["tag:ci"], online=False, seen_days=99)
    out = decide([laptop, ours], {"build": ("tag:ci",)}, stale=timedelta(days=30))
    kinds = {d.node_id: (d.kind, d.managed) for d in out}
    assert kinds == {"n1": ("note", False), "n2": ("delete", True)}


def test_tag_changes_apply_to_the_kept_node():
    node = device("app", "n1", tags=["tag:old"])
    (change,) = decide([node], {"app": ("tag:new",)})
    assert (change.kind, change.tags_before, change.tags_after) == (
        "set-tags",
        ("tag:old",),
        ("tag:new",),
    )


POLICY = '{"tagOwners": {"tag:a": []}, "acls": []}'


def test_policy_decisions_follow_the_marker():
    desired = DesiredPolicy.from_text(POLICY, "gitops/tailscale/policy.hujson")
    same = decide_policy(desired, PolicyFile(text="// x\n" + POLICY, etag='"1"'))
    assert not same.needed
    applied = marked_text(desired)
    git_changed = DesiredPolicy.from_text(POLICY.replace("tag:a", "tag:b"), "p")
    assert decide_policy(git_changed, PolicyFile(text=applied, etag='"1"')).causes == (
        "changed in git",
    )
    console = applied.replace("tag:a", "tag:c")
    reverted = decide_policy(desired, PolicyFile(text=console, etag='"2"'))
    assert reverted.console_edited
    assert "reverts the console edit" in reverted.causes[0]
    both = decide_policy(git_changed, PolicyFile(text=console, etag='"2"'))
    assert both.causes == (
        "changed in git",
        "also edited in the admin console since the last apply",
    )
    never = decide_policy(desired, PolicyFile(text="{}", etag='"3"'))
    assert never.causes == (
        "differs from the tailnet, whose policy has no gitops:last-applied marker: "
        "it was never applied by gitops",
    )
    assert not never.console_edited  # no marker: nothing says a person edited it


def test_the_marker_is_replaced_not_stacked():
    desired = DesiredPolicy.from_text(POLICY, "p")
    twice = marked_text(desired.model_copy(update={"text": marked_text(desired)}))
    assert twice.count("gitops:last-applied") == 1
    assert hujson.normalise(twice) == hujson.normalise(POLICY)


def test_serve_config_is_https_on_the_node_name_without_funnel():
    config = json.loads(serve_config({443: 8000, 8443: 9000}))
    assert config["TCP"] == {"443": {"HTTPS": True}, "8443": {"HTTPS": True}}
    assert config["Web"]["${TS_CERT_DOMAIN}:8443"] == {
        "Handlers": {"/": {"Proxy": "http://127.0.0.1:9000"}}
    }
    assert set(config["AllowFunnel"].values()) == {False}


def test_listened_ports_come_from_ports_healthcheck_command_and_env():
    spec = ContainerSpec(
        name="x",
        image="i",
        command=("serve", "--port", "7000", "--port=7001"),
        env={"PORT": "7002"},
        ports=(PortSpec(host_port=1, container_port=7003),),
        healthcheck=Healthcheck(test=("CMD", "python3", "-c", 'urlopen("http://127.0.0.1:7004/")')),
        owner="Service/x",
        source=HERE,
    )
    assert listened_ports(spec) == {7000, 7001, 7002, 7003, 7004}


def test_listened_ports_include_the_port_of_a_listen_address():
    spec = ContainerSpec(
        name="x",
        image="i",
        entrypoint=("gunicorn", "-b", "0.0.0.0:7010"),
        command=("--bind=[::]:7011", "--bind", "unix:/run/x.sock", "app:app"),
        owner="Service/x",
        source=HERE,
    )
    assert listened_ports(spec) == {7010, 7011}


def settings(devices: dict[str, tuple[str, ...]]) -> TailnetSettings:
    return TailnetSettings(
        name="t",
        tailnet="-",
        api_url="http://x",
        required=False,
        api_key_secret=None,
        oauth_client_id_secret=None,
        oauth_client_secret_secret=None,
        devices=devices,
        device_sources={h: HERE for h in devices},
        prune_duplicates_after_s=None,
        prune_stale_after_s=None,
        stale_report_after_s=86400,
        magic_dns=None,
        nameservers=None,
        search_paths=None,
        dns_source=None,
        policy_source=None,
        source=HERE,
    )


def node(service: str, hostname: str, tags: tuple[str, ...]) -> SidecarNode:
    return SidecarNode(
        service=service,
        container=f"{service}-tailscale",
        hostname=hostname,
        tags=tags,
        state_volume="v",
        secret="s",
        key_expiry_seconds=600,
        owner=f"Service/{service}",
        source=HERE,
    )


def test_conflicting_hostnames_are_a_plan_error():
    with pytest.raises(PlanError, match="declared twice with different tags"):
        desired_device_tags(settings({"app": ("tag:a",)}), [node("app", "app", ("tag:b",))])
    with pytest.raises(PlanError, match="two sidecars use the hostname 'web'"):
        desired_device_tags(
            settings({}), [node("a", "web", ("tag:a",)), node("b", "web", ("tag:a",))]
        )
    tags, _ = desired_device_tags(settings({"app": ("tag:a",)}), [node("app", "app", ("tag:a",))])
    assert tags == {"app": ("tag:a",)}


GRANTS = {
    "groups": {"group:ops": ["alice@example.com"]},
    "hosts": {"nas": "100.64.0.9"},
    "tagOwners": {"tag:web": [], "tag:db": []},
    "acls": [
        {"action": "accept", "src": ["group:ops"], "dst": ["tag:db:5432", "nas:22"]},
        {"action": "accept", "src": ["tag:web"], "dst": ["tag:db:5000-5500"], "proto": "tcp"},
    ],
    "grants": [{"src": ["autogroup:member"], "dst": ["tag:web"], "ip": ["tcp:443", "80"]}],
}


@pytest.mark.parametrize(
    ("src", "dst", "proto", "allowed"),
    [
        ("alice@example.com", "tag:db:5432", None, True),
        ("alice@example.com", "tag:db:5433", None, False),
        ("alice@example.com", "nas:22", None, True),
        ("alice@example.com", "100.64.0.9:22", None, True),
        ("bob@example.com", "tag:db:5432", None, False),
        ("tag:web", "tag:db:5200", None, True),
        ("tag:web", "tag:db:5200", "udp", False),
        ("bob@example.com", "tag:web:443", None, True),
        ("bob@example.com", "tag:web:80", None, True),
        ("tag:db", "tag:web:443", None, False),
    ],
)
def test_the_doubles_evaluator(src: str, dst: str, proto: str | None, allowed: bool):
    test = {"src": src, "accept" if allowed else "deny": [dst]}
    if proto:
        test["proto"] = proto
    assert run_tests(GRANTS, [test]) == []
    flipped = {
        "src": src,
        "deny" if allowed else "accept": [dst],
        **({"proto": proto} if proto else {}),
    }
    assert run_tests(GRANTS, [flipped])[0]["user"] == src


def test_the_double_refuses_undeclared_tags_and_groups():
    policy = {"acls": [{"action": "accept", "src": ["group:x"], "dst": ["tag:y:*"]}]}
    assert policy_problems(policy) == [
        'group "group:x" is not defined in groups',
        'tag "tag:y" is not defined in tagOwners',
    ]


def test_keys_are_minted_only_for_nodes_without_state():
    app, web = node("app", "app", ("tag:a",)), node("web", "web", ("tag:a",))
    desired = DesiredState(project="p", extra={"tailscale": (settings({}), app, web)})
    observed = TailnetObserved(
        declared=True,
        credentials=True,
        now=NOW,
        devices=[device("web", "n1", tags=["tag:a"], online=False, seen_days=0.5)],
        node_state={"app-tailscale": True, "web-tailscale": False},
    )
    actions, notes = plan_tailnet(desired, observed)
    (mint,) = actions
    assert (mint.id, mint.verb, mint.provides) == (
        "tailscale:authkey:web-tailscale",
        "mint-auth-key",
        ("secret:s",),
    )
    assert "registers as web-1" in mint.causes[0]
    assert notes == [
        "sidecar app-tailscale has state but node app is not in the tailnet (deleted in the "
        "console?); remove that container so the next apply mints a key and it logs in again"
    ]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_node_is_logged_in_only_with_a_current_profile():
    machine_key = {"_machinekey": b64("privkey:00")}
    profiles = b64('{"1a2b": {"ID": "1a2b", "Key": "profile-1a2b"}}')
    full = {
        **machine_key,
        "_profiles": profiles,
        "_current-profile": b64("profile-1a2b"),
        "profile-1a2b": b64('{"Config": {"NodeID": "n1"}}'),
    }
    assert logged_in(json.dumps(full).encode())
    assert not logged_in(None)
    assert not logged_in(b"")
    assert not logged_in(b"{}")
    assert not logged_in(b"not json")
    # the first start writes the machine key before any login: not a node
    assert not logged_in(json.dumps(machine_key).encode())
    dangling = {k: v for k, v in full.items() if k != "profile-1a2b"}
    assert not logged_in(json.dumps(dangling).encode())
    logged_out = {**full, "_current-profile": ""}
    assert not logged_in(json.dumps(logged_out).encode())


def _key_plan(present: frozenset[str]):
    app = node("app", "app", ("tag:a",))
    desired = DesiredState(project="p", extra={"tailscale": (settings({}), app)})
    observed = TailnetObserved(
        declared=True,
        credentials=True,
        now=NOW,
        node_state={"app-tailscale": False},
        sidecars_present=present,
    )
    return plan_tailnet(desired, observed)


def test_a_node_without_a_login_gets_a_key_whether_its_sidecar_exists_or_not():
    (mint,), notes = _key_plan(frozenset({"app-tailscale"}))
    assert mint.causes == (
        "node has no login in volume v; the sidecar is recreated to receive the key",
    )
    assert notes == []
    (created,), _ = _key_plan(frozenset())
    assert created.causes == ("node has no login in volume v",)
    assert created.provides == ("secret:s",)


def test_without_credentials_only_nodes_without_a_login_are_noted():
    app, web = node("app", "app", ("tag:a",)), node("web", "web", ("tag:a",))
    desired = DesiredState(project="p", extra={"tailscale": (settings({}), app, web)})
    observed = TailnetObserved(
        declared=True, now=NOW, node_state={"app-tailscale": True, "web-tailscale": False}
    )
    assert plan_tailnet(desired, observed) == (
        [],
        [
            "skipped: no Tailscale credentials",
            "sidecar web-tailscale cannot get an auth key without credentials; it will wait "
            "for an interactive login",
        ],
    )
