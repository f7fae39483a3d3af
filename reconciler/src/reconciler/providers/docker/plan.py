"""Desired + observed Docker state → actions. Pure: no engine, no files, no clock.

Decisions, in order, per container (dependencies first):
  missing                                   → create (jobs: run-job)
  spec hash / image ID / namespace parent   → recreate, causes from the stored spec
  only restart policy or limits differ      → update in place
  exists, right spec, not running           → start (jobs: rerun only after a failure)
Then bootstrap steps, project containers nobody declares (remove-orphan), leftovers of an
interrupted swap, undeclared networks, and volumes only when named by --remove-volume.
"""

from __future__ import annotations

from typing import Any

from reconciler.actions import Action, CoreVerb, FieldChange
from reconciler.errors import PlanError
from reconciler.hashing import canonical_spec, spec_hash
from reconciler.providers.base import PlanContext
from reconciler.providers.docker.names import container_name, network_name, volume_name
from reconciler.providers.docker.observe import DockerObserved, ObservedContainer
from reconciler.providers.docker.regenerate import refuse_regenerating_used_secrets
from reconciler.providers.docker.socket_group import (
    missing_gid_error,
    needs_socket_group,
    resolve_group_add,
)
from reconciler.resources import (
    BootstrapStep,
    ContainerSpec,
    DesiredState,
    ProvidedSecret,
    SecretRef,
    is_downgrade,
)

__all__ = [
    "container_action_id",
    "kept_volume_notes",
    "plan_docker",
    "spec_changes",
    "updatable_changes",
]

PROVIDER = "docker"


def container_action_id(name: str) -> str:
    return f"docker:container:{name}"


def _ephemeral(desired: DesiredState) -> frozenset[str]:
    return frozenset(
        r.name
        for r in desired.secrets
        if isinstance(r.generate, ProvidedSecret) and r.generate.ephemeral
    )


def _secret_names(spec: ContainerSpec) -> list[str]:
    names = {v.secret for v in spec.env.values() if isinstance(v, SecretRef)}
    names |= {f.secret for f in spec.secret_files}
    return sorted(names)


def _short(image_id: str | None) -> str:
    return (image_id or "none").removeprefix("sha256:")[:12]


def spec_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[FieldChange]:
    """Field-level differences between two canonical specs (env/files per entry)."""
    if before is None:
        return [FieldChange(field="spec", before=None, after=after)]
    changes: list[FieldChange] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "env" and isinstance(old, dict) and isinstance(new, dict):
            for var in sorted(set(old) | set(new)):
                if old.get(var) != new.get(var):
                    changes.append(
                        FieldChange(field=f"env.{var}", before=old.get(var), after=new.get(var))
                    )
        elif key in ("files", "secret_files") and isinstance(old, list) and isinstance(new, list):
            olds = {f["target"]: f for f in old}
            news = {f["target"]: f for f in new}
            for target in sorted(set(olds) | set(news)):
                if olds.get(target) != news.get(target):
                    changes.append(
                        FieldChange(
                            field=f"{key}[{target}]",
                            before=olds.get(target),
                            after=news.get(target),
                        )
                    )
        else:
            changes.append(FieldChange(field=key, before=old, after=new))
    return changes


def _causes(changes: list[FieldChange]) -> list[str]:
    causes: list[str] = []
    env = [c.field.removeprefix("env.") for c in changes if c.field.startswith("env.")]
    secret_env = [
        c.field.removeprefix("env.")
        for c in changes
        if c.field.startswith("env.") and isinstance(c.after, dict) and isinstance(c.before, dict)
    ]
    for change in changes:
        if change.field.startswith("files["):
            causes.append(f"file {change.field[6:-1]} changed")
        elif change.field.startswith("secret_files["):
            name = (change.after or change.before or {}).get("secret", "?")
            causes.append(f"secret {name} changed")
        elif change.field == "spec":
            causes.append("no stored spec (created by an older gitops)")
    if secret_env:
        causes.append(f"secret in env changed: {', '.join(secret_env)}")
    plain_env = [v for v in env if v not in secret_env]
    if plain_env:
        causes.append(f"env changed: {', '.join(plain_env)}")
    others = sorted(
        {
            c.field
            for c in changes
            if not c.field.startswith(("env.", "files[", "secret_files[")) and c.field != "spec"
        }
    )
    if others:
        causes.append(f"spec changed: {', '.join(others)}")
    return causes


def updatable_changes(spec: ContainerSpec, obs: ObservedContainer) -> list[FieldChange]:
    """Restart policy and limits, read from HostConfig (values we always set ourselves)."""
    changes = []
    if obs.restart != spec.restart:
        changes.append(FieldChange(field="restart", before=obs.restart, after=spec.restart))
    memory = spec.limits.memory_bytes or 0
    if obs.memory != memory:
        changes.append(
            FieldChange(
                field="limits.memory_bytes",
                before=obs.memory or None,
                after=spec.limits.memory_bytes,
            )
        )
    quota = round(spec.limits.cpus * 100_000) if spec.limits.cpus else 0
    if max(obs.cpu_quota, 0) != quota:
        changes.append(
            FieldChange(
                field="limits.cpus",
                before=(obs.cpu_quota / 100_000) if obs.cpu_quota > 0 else None,
                after=spec.limits.cpus,
            )
        )
    return changes


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
    for obs in observed.containers:
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
    ephemeral = _ephemeral(desired)
    container_actions: dict[str, str] = {}
    recreated: set[str] = set()
    unresolved: list[ContainerSpec] = []
    for spec in _dependency_order(desired.containers):
        engine = container_name(project, spec.name)
        current = next((o for o in by_resource.get(spec.name, []) if o.name == engine), None)
        action = _container_action(spec, current, observed, ctx, ephemeral, recreated, notes)
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
            for name in _secret_names(spec)
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
    actions.extend(_bootstrap_actions(desired, bootstrap, observed, container_actions, recreated))

    # orphans: project containers nobody declares any more
    orphan_ids = list(leftovers.values())
    for obs in observed.containers:
        if obs.resource in declared:
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
        if existing.name not in wanted_networks:
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


def absent_optional_networks(desired: DesiredState, observed: DockerObserved) -> frozenset[str]:
    """Logical names of optional external networks that do not exist (yet)."""
    return frozenset(
        n.name
        for n in desired.networks
        if n.external and n.optional and n.external not in observed.external_networks
    )


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


def _refuse_downgrade(spec: ContainerSpec, current: ObservedContainer) -> None:
    policy = spec.replace
    if policy is None or not policy.version or not current.version:
        return
    if is_downgrade(policy.version, current.version):
        raise PlanError(
            f"{policy.version_source or spec.source}: {spec.name} runs version "
            f"{current.version}, the declaration says "
            f"{policy.version}: a downgrade is refused because the older version may not "
            f"open the newer data. "
            + (policy.downgrade_help or "Declare a version >= the running one.")
        )


def _container_action(
    spec: ContainerSpec,
    current: ObservedContainer | None,
    observed: DockerObserved,
    ctx: PlanContext,
    ephemeral: frozenset[str],
    recreated: set[str],
    notes: list[str],
) -> Action | None:
    canonical = canonical_spec(spec, ctx.secrets, ephemeral)
    digest = spec_hash(canonical)
    image_id = observed.images.get(spec.image)
    base: dict[str, Any] = {
        "id": container_action_id(spec.name),
        "provider": PROVIDER,
        "resource": f"{spec.role} {spec.name}",
        "source": spec.source,
    }
    job = spec.role == "job"
    stateful = any(m.volume or m.bind for m in spec.mounts) or spec.network_mode is not None
    strategy = "stop-first" if stateful else "start-first"
    if current is None:
        return Action(
            **base,
            verb=CoreVerb.RUN_JOB if job else CoreVerb.CREATE,
            causes=("job never ran" if job else "container missing",),
            changes=(FieldChange(field="image", before=None, after=spec.image),),
            params={"name": spec.name, "replace": None},
        )
    causes: list[str] = []
    changes: list[FieldChange] = []
    if current.spec_hash != digest:
        field_changes = spec_changes(current.spec, canonical)
        changes.extend(field_changes)
        causes.extend(_causes(field_changes) or ["spec hash differs"])
    if image_id is None:
        causes.append(f"image {spec.image} not present locally (will be pulled)")
    elif current.image_id_label != image_id:
        causes.append(f"image id differs ({_short(current.image_id_label)} → {_short(image_id)})")
        changes.append(
            FieldChange(
                field="image",
                before=f"{current.image_ref_label} ({_short(current.image_id_label)})",
                after=f"{spec.image} ({_short(image_id)})",
            )
        )
    if spec.network_mode and spec.network_mode.startswith("container:"):
        parent = spec.network_mode.removeprefix("container:")
        if parent in recreated:
            causes.append(f"shares the network namespace of {parent}, which is replaced")
    absent = absent_optional_networks(ctx.desired, observed)
    missing_networks = [
        n
        for n in spec.networks
        if n not in absent and ctx.desired.network_engine_name(n) not in current.networks
    ]
    if missing_networks and not spec.network_mode:
        causes.append(f"not attached to network {', '.join(missing_networks)}")
    if spec.limits.memory_bytes is None and current.memory > 0:
        causes.append("memory limit removed (cannot be unset in place)")
    if not job and current.status == "running" and current.health == "unhealthy" and not causes:
        causes.append("container is unhealthy")
    fresh = [n for n in _secret_names(spec) if n in ephemeral and n in ctx.secrets_provided]
    if fresh:
        causes.append(f"receives {', '.join(fresh)}, provided anew by this apply")
    if causes:
        policy = spec.replace
        before = None
        if policy is not None:
            _refuse_downgrade(spec, current)
            if policy.defer_on_runner and policy.defer_on_runner == ctx.runner_name:
                notes.append(
                    f"{spec.name}: recreate deferred ({'; '.join(causes)}): this apply runs as "
                    f"a job on runner {ctx.runner_name}; run it again from elsewhere"
                )
                return None
            if policy.before:
                before = list(policy.before)
                causes.append(f"first: {policy.before_description or ' '.join(policy.before)}")
            if policy.version and current.version != policy.version:
                changes.append(
                    FieldChange(field="version", before=current.version, after=policy.version)
                )
        return Action(
            **base,
            verb=CoreVerb.RUN_JOB if job else CoreVerb.RECREATE,
            causes=tuple(causes),
            changes=tuple(changes),
            params={
                "name": spec.name,
                "replace": current.id,
                "strategy": "replace-job" if job else strategy,
                "before": before,
                # the backup command runs in the old container: start it if it is not running
                "start_for_before": bool(before) and current.status != "running",
                # after a version change the old container must not be restarted on data the
                # new one may have migrated
                "version_change": (
                    f"{current.version} → {policy.version}"
                    if policy is not None
                    and policy.version
                    and current.version
                    and current.version != policy.version
                    else None
                ),
            },
        )
    if job:
        if current.status == "exited" and current.exit_code != 0:
            return Action(
                **base,
                verb=CoreVerb.RUN_JOB,
                causes=(f"last run failed (exit {current.exit_code})",),
                params={"name": spec.name, "replace": current.id, "strategy": "replace-job"},
            )
        if current.status == "created":
            return Action(
                **base,
                verb=CoreVerb.RUN_JOB,
                causes=("job was created but never started",),
                params={"name": spec.name, "replace": current.id, "strategy": "replace-job"},
            )
        return None
    updates = updatable_changes(spec, current)
    not_running = current.status != "running"
    if not updates and not not_running:
        return None
    causes = [f"{c.field.replace('limits.', '').replace('_bytes', '')} differs" for c in updates]
    if not_running:
        state = current.status if current.status != "exited" else f"exited ({current.exit_code})"
        causes.append(f"container {state}")
    return Action(
        **base,
        verb=CoreVerb.UPDATE if updates else CoreVerb.START,
        causes=tuple(causes),
        changes=tuple(updates),
        params={
            "name": spec.name,
            "container_id": current.id,
            "update": bool(updates),
            "start": not_running,
        },
    )


def _bootstrap_actions(
    desired: DesiredState,
    steps: list[BootstrapStep],
    observed: DockerObserved,
    container_actions: dict[str, str],
    recreated: set[str],
) -> list[Action]:
    actions: list[Action] = []
    scheduled: dict[str, str] = {}
    for step in steps:
        reasons = []
        if step.container in recreated:
            reasons.append(f"container {step.container} is new")
        elif step.container in container_actions and step.probe is not None:
            reasons.append(f"container {step.container} (re)started; probe will be checked")
        elif any(name in recreated for name in step.triggers):
            new = sorted(name for name in step.triggers if name in recreated)
            reasons.append(f"container {', '.join(new)} is new; probe will be checked")
        elif step.probe is not None and observed.probes.get(step.id) is not True:
            reasons.append("probe says not done")
        if any(after in scheduled for after in step.after) and not reasons:
            reasons.append("a step it runs after is scheduled")
        if not reasons:
            continue
        deps = {scheduled[a] for a in step.after if a in scheduled}
        if step.container in container_actions:
            deps.add(container_actions[step.container])
        action_id = f"docker:bootstrap:{step.id}"
        scheduled[step.id] = action_id
        actions.append(
            Action(
                id=action_id,
                provider=PROVIDER,
                verb=CoreVerb.BOOTSTRAP,
                resource=f"bootstrap {step.id}",
                causes=(step.description, *reasons),
                depends_on=tuple(sorted(deps)),
                provides=(f"secret:{step.capture_secret}",) if step.capture_secret else (),
                needs=tuple(
                    f"secret:{v.secret}" for v in step.env.values() if isinstance(v, SecretRef)
                ),
                source=step.source,
                params={"step": step.id},
            )
        )
    return actions


def kept_volume_notes(observed: DockerObserved, ctx: PlanContext) -> list[str]:
    """Undeclared project volumes are kept; say so (they are not changes)."""
    declared = {v.name for v in ctx.desired.volumes}
    return [
        f"volume {v.resource} is no longer declared and is kept "
        f"(delete it with `gitops apply --remove-volume {v.resource}`)"
        for v in observed.volumes
        if v.resource not in declared and v.resource not in ctx.remove_volumes
    ]
