"""Plan, apply and drift of the tailnet against the Tailscale API test double (real HTTP),
through the real compile, planner and executor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factory_common.tailscale import hujson
from factory_common_testing.tailscale_double import RunningDouble, serve_tailscale_double
from reconciler.cli import run
from reconciler.errors import SecretsError
from reconciler.labels import project_filter
from reconciler.providers.tailscale.policy import read_marker
from reconciler.render import unified_diff

from .stack import POLICY, Engine, Tree


@pytest.fixture
def ts() -> Iterator[RunningDouble]:
    with serve_tailscale_double() as running:
        yield running


@pytest.fixture
def engine(tmp_path: Path, ts: RunningDouble) -> Iterator[Engine]:
    tree = Tree(root=tmp_path, api_url=ts.base_url)
    engine = Engine(tree=tree, ts=ts, environ={"TAILSCALE_API_KEY": ts.api_token})
    yield engine
    engine.close()


def policy_sets(ts: RunningDouble) -> list:
    return [r for r in ts.api.requests if r.method == "POST" and r.path.endswith("/acl")]


def ids(plan) -> list[str]:
    return [a.id for a in plan.actions]


def test_first_apply_then_plan_is_empty(engine: Engine, ts: RunningDouble):
    plan = engine.plan()
    assert ids(plan) == [
        "tailscale:dns:nameservers",
        "tailscale:dns:preferences",
        "tailscale:policy",
    ]
    policy = plan.action("tailscale:policy")
    assert policy.causes == (
        "differs from the tailnet, whose policy has no gitops:last-applied marker: "
        "it was never applied by gitops",
    )
    assert any(
        line.startswith("+") and '"tagOwners"' in line for line in unified_diff(policy).splitlines()
    )
    result = engine.apply(plan)
    assert result.ok, result.failed
    assert hujson.normalise(ts.api.policy_text) == hujson.normalise(POLICY)
    assert read_marker(ts.api.policy_text) == hujson.normalised_digest(POLICY)
    assert ts.api.nameservers == ["1.1.1.1"]
    assert ts.api.magic_dns is True
    again = engine.plan()
    assert again.empty, ids(again)


def test_formatting_and_comment_changes_in_git_plan_nothing(engine: Engine):
    engine.apply(engine.plan())
    engine.tree.policy = "// reformatted\n" + POLICY.replace("\n  ", "\n      ").replace(
        '"tag:factory": ["autogroup:admin"],', '"tag:factory": [ "autogroup:admin" ], // owner'
    )
    assert engine.plan().empty


def test_a_change_in_git_is_named_as_such_with_a_diff(engine: Engine, ts: RunningDouble):
    engine.apply(engine.plan())
    engine.tree.policy = POLICY.replace('"tag:ci": ["tag:factory"],', '"tag:ci": ["tag:app"],')
    plan = engine.plan()
    assert ids(plan) == ["tailscale:policy"]
    action = plan.action("tailscale:policy")
    assert action.causes == ("changed in git",)
    changed = [line for line in unified_diff(action).splitlines() if line[:1] in "+-"]
    assert [line.split()[-1] for line in changed[2:]] == ['"tag:factory"', '"tag:app"']
    assert engine.apply(plan).ok
    assert "tag:app" in ts.api.policy["tagOwners"]["tag:ci"]


def test_a_console_edit_is_told_apart_from_a_git_change(engine: Engine, ts: RunningDouble):
    engine.apply(engine.plan())
    edited = ts.api.policy_text.replace('"tag:ci": ["tag:factory"],', '"tag:ci": ["tag:app"],')
    ts.api.console_edit_policy(edited)
    action = engine.plan().action("tailscale:policy")
    assert action.causes[0].startswith("edited in the admin console since the last apply")
    assert "reverts the console edit" in action.causes[0]


def test_console_edit_between_plan_and_apply_gives_412_and_changes_nothing(
    engine: Engine, ts: RunningDouble
):
    engine.apply(engine.plan())
    engine.tree.policy = POLICY.replace('"tag:ci": ["tag:factory"],', '"tag:ci": ["tag:app"],')
    plan = engine.plan()
    console = ts.api.policy_text.replace("// test tailnet policy", "// edited by a person")
    ts.api.console_edit_policy(console)
    result = engine.apply(plan)
    assert not result.ok
    assert result.failed.action_id == "tailscale:policy"
    assert "edited in the admin console after this plan" in result.failed.reason
    assert "nothing was overwritten" in result.failed.reason
    assert ts.api.policy_text == console
    assert policy_sets(ts)[-1].headers["if-match"] == plan.action("tailscale:policy").payload.etag


def test_a_failing_policy_test_blocks_the_apply(engine: Engine, ts: RunningDouble):
    engine.apply(engine.plan())
    before = ts.api.policy_text
    sets_before = len(policy_sets(ts))
    engine.tree.policy = POLICY.replace('"deny": ["tag:app:22"]', '"deny": ["tag:app:443"]')
    result = engine.apply(engine.plan())
    assert not result.ok
    assert "the tailnet refused" in result.failed.reason
    assert "test(s) failed" in result.failed.reason
    assert any("tag:app:443" in line for line in result.failed.details)
    assert ts.api.policy_text == before
    assert len(policy_sets(ts)) == sets_before  # only validate ran


def test_a_declared_tag_change_reaches_the_device(engine: Engine, ts: RunningDouble):
    device = ts.api.add_device("builder", tags=["tag:factory"])
    engine.tree.devices = {"builder": ["tag:ci"]}
    engine.apply(engine.plan())
    assert ts.api.devices[device["nodeId"]]["tags"] == ["tag:ci"]
    engine.tree.devices = {"builder": ["tag:app", "tag:ci"]}
    plan = engine.plan()
    action = plan.action("tailscale:device:builder")
    assert action.verb == "set-device-tags"
    assert action.changes[0].before == ["tag:ci"]
    assert action.changes[0].after == ["tag:app", "tag:ci"]
    assert engine.apply(plan).ok
    assert ts.api.devices[device["nodeId"]]["tags"] == ["tag:app", "tag:ci"]
    assert engine.plan().empty


def test_duplicates_and_stale_nodes_are_reported_and_pruned_only_when_opted_in(
    engine: Engine, ts: RunningDouble
):
    now = datetime.now(UTC)
    keeper = ts.api.add_device("builder", tags=["tag:ci"])
    dup = ts.api.add_device("builder", tags=["tag:ci"], name="builder-1.tail1234.ts.net")
    ts.api.set_offline(dup["nodeId"], now - timedelta(days=3))
    laptop = ts.api.add_device("laptop", user="alice@example.com")
    ts.api.set_offline(laptop["nodeId"], now - timedelta(days=60))
    engine.tree.devices = {"builder": ["tag:ci"]}
    engine.apply(engine.plan())
    plan = engine.plan()
    assert plan.empty
    notes = "\n".join(plan.notes)
    assert (
        f"tailscale: device builder ({dup['nodeId']}): duplicate of builder (builder-1, "
        "offline 3d); not removed (opt in under prune: in gitops/tailscale/tailnet.yaml)"
    ) in notes
    assert (
        f"tailscale: device laptop ({laptop['nodeId']}): stale: offline 60d; "
        "not managed by this stack, never removed"
    ) in notes
    engine.tree.prune_dups = True
    engine.tree.prune_stale = True
    plan = engine.plan()
    assert ids(plan) == [f"tailscale:device-delete:{dup['nodeId']}"]
    assert engine.apply(plan).ok
    assert set(ts.api.devices) == {keeper["nodeId"], laptop["nodeId"]}


def test_without_credentials_the_tailnet_is_skipped(tmp_path: Path, ts: RunningDouble):
    engine = Engine(tree=Tree(root=tmp_path, api_url=ts.base_url), ts=ts, environ={})
    plan = engine.plan()
    engine.close()
    assert plan.empty
    assert plan.notes == ("tailscale: skipped: no Tailscale credentials",)
    assert ts.api.requests == []


def test_required_credentials_missing_stop_the_plan(tmp_path: Path, ts: RunningDouble):
    tree = Tree(root=tmp_path, api_url=ts.base_url, required=True)
    engine = Engine(tree=tree, ts=ts, environ={"TAILSCALE_OAUTH_CLIENT_ID": "half-of-it"})
    with pytest.raises(SecretsError) as caught:
        engine.plan()
    engine.close()
    message = " ".join(str(caught.value).split())
    assert message.startswith(
        "Tailscale credentials are required (gitops/tailscale/tailnet.yaml:5:13: "
        "credentials.required: true) but none is usable; set TAILSCALE_API_KEY (not set): "
        "an API access token (tskey-api-…), or TAILSCALE_OAUTH_CLIENT_ID (set) and "
        "TAILSCALE_OAUTH_CLIENT_SECRET (not set): an OAuth client"
    )
    assert "or set credentials.required: false" in message
    assert "half-of-it" not in message
    assert ts.api.requests == []


def test_required_credentials_are_met_by_an_oauth_client_alone(tmp_path: Path, ts: RunningDouble):
    client_id, secret = ts.api.add_oauth_client(tags=("tag:app", "tag:ci"))
    environ = {"TAILSCALE_OAUTH_CLIENT_ID": client_id, "TAILSCALE_OAUTH_CLIENT_SECRET": secret}
    tree = Tree(root=tmp_path, api_url=ts.base_url, required=True)
    engine = Engine(tree=tree, ts=ts, environ=environ)
    try:
        assert engine.apply(engine.plan()).ok
        assert engine.plan().empty
    finally:
        engine.close()
    assert len(ts.api.calls("POST", "/oauth/token")) == 2


@pytest.mark.docker
def test_validate_needs_no_credentials_and_plan_names_them(
    tmp_path: Path, ts: RunningDouble, capsys
):
    docker = pytest.importorskip("docker")
    tree = Tree(root=tmp_path, api_url=ts.base_url, required=True, project="tsrequired")
    tree.write()
    gitops = ["--dir", str(tree.gitops)]
    assert run([*gitops, "validate"], environ={}) == 0
    client = docker.from_env()
    try:
        capsys.readouterr()
        assert run([*gitops, "plan"], environ={}, options={"docker_client": client}) == 1
    finally:
        client.close()
    err = " ".join(capsys.readouterr().err.split())
    assert "error: missing secrets" in err
    assert "gitops/tailscale/tailnet.yaml:5:13: credentials.required: true" in err
    assert "TAILSCALE_API_KEY (not set)" in err
    assert ts.api.requests == []


def test_rate_limits_during_plan_are_waited_out(engine: Engine, ts: RunningDouble):
    ts.api.inject_fault(429, retry_after="2", path_contains="/devices")
    plan = engine.plan()
    assert "tailscale:policy" in ids(plan)
    assert len(ts.api.calls("GET", "/devices")) == 2


@pytest.mark.docker
def test_drift_through_the_cli_names_a_console_edit(engine: Engine, ts: RunningDouble, capsys):
    docker = pytest.importorskip("docker")
    client = docker.from_env()
    engine.tree.project = f"tsdrift-{ts.api_token[-6:]}"
    engine.tree.write()
    gitops = ["--dir", str(engine.tree.gitops)]
    env = {"TAILSCALE_API_KEY": ts.api_token}
    options = {"docker_client": client}
    try:
        assert run([*gitops, "apply", "--yes"], environ=env, options=options) == 0
        assert run([*gitops, "drift"], environ=env, options=options) == 0
        edited = ts.api.policy_text.replace('"tag:ci": ["tag:factory"]', '"tag:ci": ["tag:app"]')
        ts.api.console_edit_policy(edited)
        capsys.readouterr()
        assert run([*gitops, "drift"], environ=env, options=options) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert "set-policy" in out
        assert "edited in the admin console since the last apply" in out
    finally:
        for network in client.networks.list(filters={"label": project_filter(engine.tree.project)}):
            network.remove()
        client.close()


def test_an_oauth_client_works_in_place_of_an_api_key(tmp_path: Path, ts: RunningDouble):
    client_id, secret = ts.api.add_oauth_client(tags=("tag:app", "tag:ci"))
    environ = {"TAILSCALE_OAUTH_CLIENT_ID": client_id, "TAILSCALE_OAUTH_CLIENT_SECRET": secret}
    engine = Engine(tree=Tree(root=tmp_path, api_url=ts.base_url), ts=ts, environ=environ)
    try:
        assert engine.apply(engine.plan()).ok
        assert engine.plan().empty
    finally:
        engine.close()
    assert hujson.normalise(ts.api.policy_text) == hujson.normalise(POLICY)
    assert len(ts.api.calls("POST", "/oauth/token")) == 2  # one per run, cached within it
