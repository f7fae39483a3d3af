"""The plan after an interrupted replacement (no engine): the container an apply left
renamed beside its service is the rollback target until a new one is proven healthy."""

from __future__ import annotations

import dataclasses

from reconciler.actions import CoreVerb
from reconciler.providers.base import PlanContext
from reconciler.providers.docker.observe import ObservedContainer
from reconciler.providers.docker.payloads import Restore
from reconciler.providers.docker.plan import plan_docker

from .helpers import applied, desired_state, observed, spec, store


def renamed(container: ObservedContainer, name: str, **changes: object) -> ObservedContainer:
    return dataclasses.replace(container, id=f"id-{name}", name=name, **changes)  # type: ignore[arg-type]


def plan(desired, obs, secrets):  # type: ignore[no-untyped-def]
    actions, _notes = plan_docker(obs, PlanContext(desired=desired, secrets=secrets))
    return actions


def test_old_container_beside_an_unproven_new_one_is_restored_not_removed() -> None:
    secrets = store()
    old_spec, new_spec = spec(env={"V": "1"}), spec(env={"V": "2"})
    old = renamed(applied(old_spec, secrets), "demo-web--old", status="exited")
    for health, status in (("starting", "running"), ("unhealthy", "running"), (None, "created")):
        new = dataclasses.replace(applied(new_spec, secrets), health=health, status=status)
        actions = plan(desired_state(spec(env={"V": "3"})), observed(new, old), secrets)
        assert [(a.verb, a.resource) for a in actions] == [(CoreVerb.RECREATE, "service web")]
        action = actions[0]
        assert action.payload.replace == old.id
        assert action.payload.restore == Restore(name=old.name, discard=new.id)
        assert any("demo-web--old" in cause for cause in action.causes), action.causes


def test_old_container_with_no_service_under_its_name_is_restored_and_next_removed() -> None:
    secrets = store()
    web = spec()
    old = renamed(applied(web, secrets), "demo-web--old", status="exited")
    candidate = renamed(applied(spec(env={"V": "2"}), secrets), "demo-web--next", status="created")
    actions = plan(desired_state(web), observed(old, candidate), secrets)
    assert [(a.verb, a.resource) for a in actions] == [
        (CoreVerb.REMOVE_ORPHAN, "container demo-web--next"),
        (CoreVerb.RECREATE, "service web"),
    ]
    recreate = actions[1]
    assert recreate.payload.replace == old.id
    assert recreate.payload.restore == Restore(name=old.name, discard=None)
    assert actions[0].id in recreate.depends_on


def test_a_lone_next_copy_is_the_service_when_nothing_else_is_left() -> None:
    secrets = store()
    web = spec()
    lone = renamed(applied(web, secrets), "demo-web--next")
    actions = plan(desired_state(spec(env={"V": "2"})), observed(lone), secrets)
    assert [(a.verb, a.payload.replace) for a in actions] == [(CoreVerb.RECREATE, lone.id)]


def test_leftover_is_removed_once_the_service_is_healthy_under_its_name() -> None:
    secrets = store()
    web = spec()
    old = renamed(applied(spec(env={"V": "0"}), secrets), "demo-web--old", status="exited")
    for health in ("healthy", None):
        current = dataclasses.replace(applied(web, secrets), health=health)
        actions = plan(desired_state(web), observed(current, old), secrets)
        assert [(a.verb, a.resource) for a in actions] == [
            (CoreVerb.REMOVE_ORPHAN, "container demo-web--old")
        ]


def test_a_newer_version_that_ran_before_the_kill_counts_as_what_runs() -> None:
    """The killed apply's new version may have migrated the data already: declaring the
    old version again is a downgrade, and a newer one keeps the old container stopped on
    failure (version_change), exactly as if the new version had been deployed."""
    import pytest
    from reconciler.errors import PlanError
    from reconciler.resources import ReplacePolicy

    secrets = store()
    v10, v11 = (spec(replace=ReplacePolicy(version=v), env={"V": v}) for v in ("10", "11"))
    old = renamed(applied(v10, secrets), "demo-web--old", status="exited", version="10")
    ran = dataclasses.replace(applied(v11, secrets), health="unhealthy", version="11")
    with pytest.raises(PlanError, match="downgrade is refused"):
        plan(desired_state(v10), observed(ran, old), secrets)
    (action,) = plan(desired_state(v11), observed(ran, old), secrets)
    assert action.payload.version_change == "10 → 11"
    # a new container that never started migrated nothing: the old version may be declared
    never = dataclasses.replace(ran, status="created", health=None)
    (action,) = plan(desired_state(v10), observed(never, old), secrets)
    assert action.payload.replace == old.id
    assert action.payload.version_change is None
