"""The Docker plan on literal desired and observed state (no engine): each decision, its
causes, its order, and an empty plan when nothing changed."""

from __future__ import annotations

import pytest
from reconciler.actions import Action
from reconciler.errors import PlanError
from reconciler.planner import assemble
from reconciler.providers.base import PlanContext
from reconciler.providers.docker.observe import ObservedNetwork
from reconciler.providers.docker.payloads import Create, RemoveOrphan
from reconciler.providers.docker.plan import plan_docker
from reconciler.providers.tailscale.payloads import MintAuthKey
from reconciler.resources import (
    FileSpec,
    Limits,
    Mount,
    ReplacePolicy,
    SecretFile,
    SecretRef,
)
from reconciler.source import SourceLocation

from .helpers import applied, desired_state, observed, spec, store


def lines(actions: list[Action]) -> list[str]:
    plan = assemble("demo", actions)
    return [f"{a.verb} {a.resource}: {'; '.join(a.causes)}" for a in plan.actions]


def run(desired, obs, secrets=None, **ctx):  # type: ignore[no-untyped-def]
    secrets = secrets or store()
    actions, _notes = plan_docker(obs, PlanContext(desired=desired, secrets=secrets, **ctx))
    return actions


def test_nothing_changed_gives_an_empty_plan() -> None:
    secrets = store()
    web = spec()
    assert run(desired_state(web), observed(applied(web, secrets)), secrets) == []


def test_empty_engine_creates_network_volume_and_containers_in_dependency_order() -> None:
    db = spec("db", mounts=(Mount(target="/var/lib/db", volume="data"),))
    web = spec("web", depends_on=("db",))
    actions = run(desired_state(web, db), observed(networks=(), volumes=()))
    assert lines(actions) == [
        "create-network network net: network missing",
        "create-volume volume data: volume missing",
        "create service db: container missing",
        "create service web: container missing",
    ]
    web_action = next(a for a in actions if a.id == "docker:container:web")
    assert set(web_action.depends_on) == {"docker:container:db", "docker:network:net"}


def test_changed_env_recreates_only_that_service_with_the_field_diff() -> None:
    secrets = store()
    a, b = spec("a"), spec("b")
    obs = observed(applied(a, secrets), applied(b, secrets))
    changed = spec("a", env={"MODE": "debug"})
    actions = run(desired_state(changed, b), obs, secrets)
    assert lines(actions) == ["recreate service a: env changed: MODE"]
    change = actions[0].changes[0]
    assert (change.field, change.before, change.after) == ("env.MODE", "prod", "debug")
    assert actions[0].payload.strategy == "start-first"


def test_file_content_and_secret_rotation_are_named() -> None:
    old = store({"token": "one"})
    new = store({"token": "two"})
    web = spec(
        files=(FileSpec(target="/etc/app.conf", content="a=1\n"),),
        secret_files=(SecretFile(secret="token", target="/run/secrets/token"),),
        mounts=(Mount(target="/data", volume="data"),),
    )
    obs = observed(applied(web, old))
    edited = web.model_copy(update={"files": (FileSpec(target="/etc/app.conf", content="a=2\n"),)})
    actions = run(desired_state(edited), obs, new)
    assert lines(actions) == [
        "recreate service web: file /etc/app.conf changed; secret token changed"
    ]
    assert actions[0].payload.strategy == "stop-first"  # it has a volume


def test_image_is_compared_by_id_not_by_reference() -> None:
    secrets = store()
    web = spec()
    obs = observed(applied(web, secrets), images={"example/web@sha256:123": "sha256:aaa"})
    same_image = spec(image="example/web@sha256:123")
    assert run(desired_state(same_image), obs, secrets) == []
    moved = observed(applied(web, secrets), images={"example/web:1": "sha256:bbb"})
    assert lines(run(desired_state(web), moved, secrets)) == [
        "recreate service web: image id differs (aaa → bbb)"
    ]


def test_missing_image_is_pulled_first() -> None:
    actions = run(desired_state(spec()), observed(images={"example/web:1": None}))
    assert lines(actions) == [
        "pull-image image example/web:1: not present on the engine (used by web)",
        "create service web: container missing",
    ]


def test_restart_policy_and_limits_are_updated_in_place() -> None:
    secrets = store()
    web = spec(limits=Limits(memory_bytes=64 * 2**20))
    obs = observed(applied(web, secrets, restart="no"))
    wanted = spec(limits=Limits(memory_bytes=128 * 2**20, cpus=0.5))
    actions = run(desired_state(wanted), obs, secrets)
    assert lines(actions) == ["update service web: restart differs; memory differs; cpus differs"]
    assert {c.field for c in actions[0].changes} == {
        "restart",
        "limits.memory_bytes",
        "limits.cpus",
    }


def test_stopped_container_is_started_and_unhealthy_one_recreated() -> None:
    secrets = store()
    web = spec()
    exited = observed(applied(web, secrets, status="exited", exit_code=137, health="unhealthy"))
    assert lines(run(desired_state(web), exited, secrets)) == [
        "start service web: container exited (137)"
    ]
    sick = observed(applied(web, secrets, health="unhealthy"))
    assert lines(run(desired_state(web), sick, secrets)) == [
        "recreate service web: container is unhealthy"
    ]


def test_jobs_rerun_only_on_change_or_failure() -> None:
    secrets = store()
    job = spec("migrate", role="job", restart="no")
    done = observed(applied(job, secrets, status="exited", exit_code=0))
    assert run(desired_state(job), done, secrets) == []
    failed = observed(applied(job, secrets, status="exited", exit_code=2))
    assert lines(run(desired_state(job), failed, secrets)) == [
        "run-job job migrate: last run failed (exit 2)"
    ]
    changed = spec("migrate", role="job", restart="no", command=("migrate", "--all"))
    assert lines(run(desired_state(changed), done, secrets)) == [
        "run-job job migrate: spec changed: command"
    ]


def test_orphans_are_removed_after_the_rest_and_leftovers_before_their_container() -> None:
    secrets = store()
    web = spec()
    gone = applied(spec("old"), secrets)
    leftover = applied(web, secrets).__class__(
        **{**applied(web, secrets).__dict__, "id": "x", "name": "demo-web--old"}
    )
    obs = observed(applied(web, secrets), gone, leftover)
    assert lines(run(desired_state(web), obs, secrets)) == [
        "remove-orphan container demo-old: no longer declared (its volumes are kept)",
        "remove-orphan container demo-web--old: leftover of an interrupted apply",
    ]


def test_undeclared_network_is_removed_and_volumes_only_when_named() -> None:
    from reconciler.providers.docker.observe import ObservedVolume

    obs = observed(
        networks=(
            ObservedNetwork(id="n1", name="demo_net", resource="net"),
            ObservedNetwork(id="n2", name="demo_old", resource="old"),
        ),
        volumes=(
            ObservedVolume(name="demo_data", resource="data"),
            ObservedVolume(name="demo_cache", resource="cache"),
        ),
        images={},
    )
    desired = desired_state()
    assert lines(run(desired, obs)) == ["remove-network network old: no longer declared"]
    assert lines(run(desired, obs, remove_volumes=frozenset({"cache"}))) == [
        "remove-network network old: no longer declared",
        "remove-volume volume cache: named by --remove-volume (its data is deleted)",
    ]
    with pytest.raises(PlanError, match="still declared"):
        run(desired, obs, remove_volumes=frozenset({"data"}))
    with pytest.raises(PlanError, match="not a volume of project"):
        run(desired, obs, remove_volumes=frozenset({"nope"}))


def test_foreign_object_holding_a_name_stops_the_plan() -> None:
    obs = observed(foreign={"demo-web": "container 0123456789ab"})
    with pytest.raises(PlanError, match=r"demo-web \(container 0123456789ab"):
        run(desired_state(spec()), obs)


def test_sidecar_follows_its_namespace_parent() -> None:
    secrets = store()
    app = spec("app")
    side = spec("app-ts", network_mode="container:app", networks=())
    obs = observed(applied(app, secrets), applied(side, secrets))
    changed = spec("app", env={"MODE": "new"})
    actions = run(desired_state(changed, side), obs, secrets)
    assert lines(actions) == [
        "recreate service app: env changed: MODE",
        "recreate service app-ts: shares the network namespace of app, which is replaced",
    ]


def test_pending_secrets_link_across_providers() -> None:
    secrets = store()
    side = spec(
        "ts",
        secret_files=(SecretFile(secret="ts-key", target="/run/key"),),
    )
    docker_actions = run(desired_state(side), observed(), secrets)
    mint = Action(
        id="tailscale:authkey:ts",
        provider="tailscale",
        verb="mint-auth-key",
        resource="auth key ts",
        causes=("node has no state",),
        provides=("secret:ts-key",),
        payload=MintAuthKey(container="ts", hostname="ts", expiry_seconds=3600),
    )
    plan = assemble("demo", [*docker_actions, mint])
    create = plan.action("docker:container:ts")
    assert "tailscale:authkey:ts" in create.depends_on
    ids = [a.id for a in plan.actions]
    assert ids.index("tailscale:authkey:ts") < ids.index("docker:container:ts")


def test_secret_in_env_is_hashed_not_shown() -> None:
    old, new = store({"pw": "hunter2-old"}), store({"pw": "hunter2-new"})
    web = spec(env={"PW": SecretRef(secret="pw")})
    actions = run(desired_state(web), observed(applied(web, old)), new)
    assert lines(actions) == ["recreate service web: secret in env changed: PW"]
    assert "hunter2" not in repr(actions)


def test_downgrade_is_refused_and_runner_self_update_deferred() -> None:
    secrets = store()
    current = spec(replace=ReplacePolicy(version="11.0.3"), env={"V": "11"})
    running = applied(current, secrets)
    running = running.__class__(**{**running.__dict__, "version": "11.0.3"})
    older = spec(replace=ReplacePolicy(version="10.0.1", downgrade_help="restore a backup"))
    with pytest.raises(PlanError, match=r"downgrade is refused.*restore a backup"):
        run(desired_state(older), observed(running), secrets)
    runner = spec(replace=ReplacePolicy(version="11.0.3", defer_on_runner="runner-1"))
    actions, notes = plan_docker(
        observed(running),
        PlanContext(desired=desired_state(runner), secrets=secrets, runner_name="runner-1"),
    )
    assert actions == []
    assert "deferred" in notes[0]


def test_moving_major_after_a_pinned_patch_is_no_downgrade_and_errors_cite_version() -> None:
    secrets = store()
    running = applied(spec(replace=ReplacePolicy(version="15.0.2")), secrets)
    running = running.__class__(**{**running.__dict__, "version": "15.0.2"})
    moving = spec(replace=ReplacePolicy(version="15"), env={"V": "moving"})
    (action,) = run(desired_state(moving), observed(running), secrets)
    assert action.verb == "recreate"
    where = SourceLocation(file="gitops/forgejo/forgejo.yaml", line=7, column=10)
    older = spec(replace=ReplacePolicy(version="15.0.1", version_source=where))
    with pytest.raises(PlanError, match=r"^gitops/forgejo/forgejo.yaml:7:10: .*15\.0\.2"):
        run(desired_state(older), observed(running), secrets)


def test_assemble_orders_by_dependencies_then_phase_and_detects_cycles() -> None:
    def action(verb: str, name: str, *depends_on: str) -> Action:
        payload = (
            Create(name=name) if verb == "create" else RemoveOrphan(container_id=name, name=name)
        )
        fields = {"provider": "x", "resource": name, "causes": (), "payload": payload}
        return Action(id=name, verb=verb, depends_on=depends_on, **fields)

    a = action("create", "b", "a")
    b = action("create", "a")
    c = action("remove-orphan", "c")
    assert [x.id for x in assemble("p", [c, a, b]).actions] == ["a", "b", "c"]
    loop = action("create", "a", "b")
    with pytest.raises(PlanError, match="cycle"):
        assemble("p", [a, loop])


def test_an_action_refuses_a_payload_of_another_verb() -> None:
    orphan = RemoveOrphan(container_id="0123", name="demo-web")
    with pytest.raises(ValueError, match="RemoveOrphan payload is for verb 'remove-orphan'"):
        Action(id="c", provider="docker", verb="create", resource="c", causes=(), payload=orphan)
