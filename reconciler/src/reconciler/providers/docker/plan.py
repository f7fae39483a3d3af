"""Desired + observed Docker state → actions. Pure: no engine, no files, no clock.

Order: conflicts with foreign objects, images, networks and volumes, then each container
(dependencies first; the decision per container is plan_container.py), then bootstrap steps
(plan_bootstrap.py), project containers nobody declares (remove-orphan), leftovers of an
interrupted swap (except a rollback target: plan_interrupted.py), undeclared networks, and
volumes only when named by --remove-volume.
"""

from __future__ import annotations

from typing import Any

from reconciler.actions import Action, CoreVerb
from reconciler.errors import PlanError
from reconciler.providers.base import PlanContext
from reconciler.providers.docker.names import container_name, network_name, volume_name
from reconciler.providers.docker.observe import DockerObserved, ObservedContainer
from reconciler.providers.docker.plan_bootstrap import bootstrap_actions
from reconciler.providers.docker.plan_container import (
    PROVIDER,
    absent_optional_networks,
    container_action,
    container_action_id,
    ephemeral_secrets,
    refuse_downgrade,
    secret_names,
    spec_changes,
    updatable_changes,
)
from reconciler.providers.docker.plan_interrupted import resume_action, rollback_target
from reconciler.providers.docker.regenerate import refuse_regenerating_used_secrets
from reconciler.providers.docker.socket_group import (
    missing_gid_error,
    needs_socket_group,
    resolve_group_add,
)
from reconciler.resources import ContainerSpec, DesiredState

__all__ = [
    "container_action_id",
    "kept_volume_notes",
    "plan_docker",
    "spec_changes",
    "updatable_changes",
]


def plan_docker(
    observed: DockerObserved, ctx: PlanContext, notes: list[str] | None = None
) -> list[Action]:
    """All Docker actions; `notes` receives what is deliberately not done (and why)."""
    notes = [] if notes is None else notes
    desired = ctx.desired
    project = desired.project
    actions: list[Action] = []
    conflicts = []
    for spec in desired.containers:
        engine = container_name(project, spec.name)
        if engine in observed.foreign:
            conflicts.append(f"{engine} ({observed.foreign[engine]}, declared at {spec.source})")
    for wanted in desired.networks:
        if wanted.external:
            continue  # someone else's: joined as it is
        engine = network_name(project, wanted.name)
        if engine in observed.foreign:
            conflicts.append(f"{engine} ({observed.foreign[engine]}, declared at {wanted.source})")
    for vol in desired.volumes:
        engine = volume_name(project, vol.name)
        if engine in observed.foreign:
            conflicts.append(f"{engine} ({observed.foreign[engine]}, declared at {vol.source})")
    if conflicts:
        raise PlanError(
            "names needed by this stack are taken by objects gitops does not manage: "
            + "; ".join(conflicts)
            + ". Remove or rename them (gitops never touches objects without its labels), "
            "or change `project` in gitops/stack.yaml."
        )

    # images
    pulls: dict[str, str] = {}
    for ref, image_id in sorted(observed.images.items()):
        if image_id is None:
            users = sorted(c.name for c in desired.containers if c.image == ref)
            pulls[ref] = f"docker:image:{ref}"
            actions.append(
                Action(
                    id=pulls[ref],
                    provider=PROVIDER,
                    verb=CoreVerb.PULL_IMAGE,
                    resource=f"image {ref}",
                    causes=(f"not present on the engine (used by {', '.join(users)})",),
                    params={"ref": ref},
                )
            )

    # networks and volumes
    created: dict[str, str] = {}
    have_networks = {n.name for n in observed.networks}
    _require_external_networks(desired, observed, notes)
    for net in desired.networks:
        if net.external:
            continue
        engine = network_name(project, net.name)
        if engine not in have_networks:
            created[f"network:{net.name}"] = f"docker:network:{net.name}"
            actions.append(
                Action(
                    id=f"docker:network:{net.name}",
                    provider=PROVIDER,
                    verb=CoreVerb.CREATE_NETWORK,
                    resource=f"network {net.name}",
                    causes=("network missing",),
                    source=net.source,
                    params={"name": net.name},
                )
            )
    have_volumes = {v.name for v in observed.volumes}
    for vol in desired.volumes:
        engine = volume_name(project, vol.name)
        if engine not in have_volumes:
            created[f"volume:{vol.name}"] = f"docker:volume:{vol.name}"
            actions.append(
                Action(
                    id=f"docker:volume:{vol.name}",
                    provider=PROVIDER,
                    verb=CoreVerb.CREATE_VOLUME,
                    resource=f"volume {vol.name}",
                    causes=("volume missing",),
                    source=vol.source,
                    params={"name": vol.name},
                )
            )

    refuse_regenerating_used_secrets(observed.containers, ctx)
    # containers, dependencies first
    by_resource: dict[str, list[ObservedContainer]] = {}
    for obs in observed.containers:
        by_resource.setdefault(obs.resource, []).append(obs)
    # leftovers of an interrupted swap (<name>--old / --next) go before their container
    leftovers: dict[str, str] = {}
    declared_names = {c.name for c in desired.containers}
    # ...except the one an unproven service must be able to roll back to (plan_interrupted)
    targets = {
        spec.name: target
        for spec in desired.containers
        if (target := rollback_target(project, spec, by_resource.get(spec.name, [])))
    }
    kept = {t.id for t in targets.values()}
    for obs in observed.containers:
        if obs.id in kept:
            continue
        if obs.resource in declared_names and obs.name != container_name(project, obs.resource):
            leftovers[obs.name] = f"docker:orphan:{obs.name}"
            actions.append(
                Action(
                    id=leftovers[obs.name],
                    provider=PROVIDER,
                    verb=CoreVerb.REMOVE_ORPHAN,
                    resource=f"container {obs.name}",
                    causes=("leftover of an interrupted apply",),
                    params={"container_id": obs.id, "name": obs.name},
                )
            )
    ephemeral = ephemeral_secrets(desired)
    container_actions: dict[str, str] = {}
    recreated: set[str] = set()
    unresolved: list[ContainerSpec] = []
    for spec in _dependency_order(desired.containers):
        engine = container_name(project, spec.name)
        current = next((o for o in by_resource.get(spec.name, []) if o.name == engine), None)
        target = targets.get(spec.name)
        if target is not None:
            if current is not None and current.status != "created":
                # it ran: its version may have migrated the data, as if it had been deployed
                refuse_downgrade(spec, current)
            as_current = container_action(spec, target, observed, ctx, ephemeral, recreated, notes)
            action = resume_action(as_current, spec, target, current)
        else:
            action = container_action(spec, current, observed, ctx, ephemeral, recreated, notes)
        if action is None:
            continue
        deps = set()
        for network in spec.networks:
            if f"network:{network}" in created:
                deps.add(created[f"network:{network}"])
        for mount in spec.mounts:
            if mount.volume and f"volume:{mount.volume}" in created:
                deps.add(created[f"volume:{mount.volume}"])
        if spec.image in pulls:
            deps.add(pulls[spec.image])
        deps.update(
            leftovers[o.name] for o in by_resource.get(spec.name, []) if o.name in leftovers
        )
        parents = list(spec.depends_on)
        if spec.network_mode and spec.network_mode.startswith("container:"):
            parents.append(spec.network_mode.removeprefix("container:"))
        for parent in parents:
            if parent in container_actions:
                deps.add(container_actions[parent])
        needs = tuple(
            f"secret:{name}"
            for name in secret_names(spec)
            if ctx.secrets.get(name) is None or name in ctx.secrets_to_generate
        )
        update: dict[str, Any] = {
            "depends_on": tuple(sorted(deps | set(action.depends_on))),
            "needs": needs,
        }
        if action.verb in (CoreVerb.RECREATE, CoreVerb.CREATE, CoreVerb.RUN_JOB):
            absent = absent_optional_networks(desired, observed)
            update["params"] = {
                **action.params,
                "networks": [n for n in spec.networks if n not in absent],
            }
            gid = observed.socket_group.gid
            if needs_socket_group(spec) and gid is None:
                unresolved.append(spec)
            else:
                # numeric groups for the engine; the spec (and its hash) keep the symbol
                group_add = resolve_group_add(spec.group_add, gid)
                update["params"] = {**update["params"], "group_add": group_add}
        action = action.model_copy(update=update)
        actions.append(action)
        container_actions[spec.name] = action.id
        if action.verb in (CoreVerb.RECREATE, CoreVerb.CREATE, CoreVerb.RUN_JOB):
            recreated.add(spec.name)

    if unresolved:
        raise missing_gid_error(unresolved, observed.socket_group.origin)
    declared = {c.name for c in desired.containers}
    # a deploy running as a job on a runner that was just removed from gitops/ must not
    # remove or revoke that runner under itself: a later apply from elsewhere does it
    own_runner_removed = bool(ctx.runner_name) and any(
        obs.resource == ctx.runner_name and obs.resource not in declared
        for obs in observed.containers
    )
    for step in desired.bootstrap:
        if step.revokes_runners and own_runner_removed:
            notes.append(
                f"{step.id}: deferred: this apply runs as a job on runner {ctx.runner_name}, "
                "which is no longer declared; run it again from elsewhere"
            )
    bootstrap = [s for s in desired.bootstrap if not (s.revokes_runners and own_runner_removed)]
    actions.extend(bootstrap_actions(bootstrap, observed, container_actions, recreated))

    # orphans: project containers nobody declares any more
    orphan_ids = list(leftovers.values())
    for obs in observed.containers:
        if obs.resource in declared or obs.resource in ctx.left_out:
            continue
        if own_runner_removed and obs.resource == ctx.runner_name:
            notes.append(
                f"{obs.name}: removal deferred: this apply runs as a job on it; run it again "
                "from elsewhere"
            )
            continue
        action_id = f"docker:orphan:{obs.name}"
        orphan_ids.append(action_id)
        actions.append(
            Action(
                id=action_id,
                provider=PROVIDER,
                verb=CoreVerb.REMOVE_ORPHAN,
                resource=f"container {obs.name}",
                causes=("no longer declared (its volumes are kept)",),
                params={"container_id": obs.id, "name": obs.name},
            )
        )
    wanted_networks = {network_name(project, n.name) for n in desired.networks if not n.external}
    for existing in observed.networks:
        if existing.name not in wanted_networks and existing.resource not in ctx.left_out:
            actions.append(
                Action(
                    id=f"docker:network:{existing.resource or existing.name}:remove",
                    provider=PROVIDER,
                    verb=CoreVerb.REMOVE_NETWORK,
                    resource=f"network {existing.resource or existing.name}",
                    causes=("no longer declared",),
                    depends_on=tuple(sorted(orphan_ids)),
                    params={"network_id": existing.id, "name": existing.name},
                )
            )
    actions.extend(_volume_removals(desired, observed, ctx, orphan_ids))
    return actions


def _volume_removals(
    desired: DesiredState, observed: DockerObserved, ctx: PlanContext, orphan_ids: list[str]
) -> list[Action]:
    project = desired.project
    declared = {v.name: v for v in desired.volumes}
    existing = {v.resource: v for v in observed.volumes}
    actions = []
    problems = []
    for name in sorted(ctx.remove_volumes):
        if name in ctx.left_out:
            problems.append(
                f"volume {name!r} is declared (left out of this run by --only); remove it "
                "from gitops/ first: gitops only deletes volumes nobody declares"
            )
            continue
        if name in declared:
            problems.append(
                f"volume {name!r} is still declared ({declared[name].source}); remove it from "
                "gitops/ first: gitops only deletes volumes nobody declares"
            )
            continue
        vol = existing.get(name)
        if vol is None:
            problems.append(
                f"volume {name!r} is not a volume of project {project!r} "
                f"(known: {', '.join(sorted(existing)) or 'none'})"
            )
            continue
        users = [
            u
            for u in observed.volume_users.get(vol.name, ())
            if not any(u == o.name for o in observed.containers)
        ]
        if users:
            problems.append(
                f"volume {name!r} is used by containers gitops does not manage: {users}"
            )
            continue
        actions.append(
            Action(
                id=f"docker:volume:{name}:remove",
                provider=PROVIDER,
                verb=CoreVerb.REMOVE_VOLUME,
                resource=f"volume {name}",
                causes=("named by --remove-volume (its data is deleted)",),
                depends_on=tuple(sorted(orphan_ids)),
                params={"name": vol.name},
            )
        )
    if problems:
        raise PlanError("; ".join(problems))
    return actions


def _require_external_networks(
    desired: DesiredState, observed: DockerObserved, notes: list[str]
) -> None:
    """A container may only join an external network that exists: gitops cannot create it
    (another project owns it), so the plan stops naming it, its users and the fix, unless
    it is optional: then the plan says who is deployed without it."""
    problems = []
    for net in desired.networks:
        if not net.external or net.external in observed.external_networks:
            continue
        users = sorted(c.name for c in desired.containers if net.name in c.networks)
        if users and net.optional:
            notes.append(
                f"external network {net.external} does not exist (yet): {', '.join(users)} "
                "run without it and join it on the first apply after it appears"
            )
        elif users:
            problems.append(
                f"external network {net.external!r} ({net.source}) does not exist on the "
                f"engine, and {', '.join(users)} join it"
            )
    if problems:
        raise PlanError(
            "; ".join(problems)
            + ". Start the project that owns it first (`docker network ls` lists what exists), "
            "or remove it from stack.yaml external_networks and from those services' networks."
        )


def _dependency_order(containers: tuple[ContainerSpec, ...]) -> list[ContainerSpec]:
    by_name = {c.name: c for c in containers}
    done: list[ContainerSpec] = []
    seen: set[str] = set()

    def visit(spec: ContainerSpec) -> None:
        if spec.name in seen:
            return
        seen.add(spec.name)
        parents = list(spec.depends_on)
        if spec.network_mode and spec.network_mode.startswith("container:"):
            parents.append(spec.network_mode.removeprefix("container:"))
        for parent in sorted(parents):
            if parent in by_name:
                visit(by_name[parent])
        done.append(spec)

    for spec in sorted(containers, key=lambda c: c.name):
        visit(spec)
    return done


def kept_volume_notes(observed: DockerObserved, ctx: PlanContext) -> list[str]:
    """Undeclared project volumes are kept; say so (they are not changes)."""
    declared = {v.name for v in ctx.desired.volumes}
    return [
        f"volume {v.resource} is no longer declared and is kept "
        f"(delete it with `gitops apply --remove-volume {v.resource}`)"
        for v in observed.volumes
        if v.resource not in declared
        and v.resource not in ctx.remove_volumes
        and v.resource not in ctx.left_out
    ]
