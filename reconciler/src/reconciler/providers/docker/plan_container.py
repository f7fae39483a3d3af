"""One declared container against what runs: the action it needs, and why. Pure.

  missing                                   → create (jobs: run-job)
  spec hash / image ID / namespace parent   → recreate, causes from the stored spec
  only restart policy or limits differ      → update in place
  exists, right spec, not running           → start (jobs: rerun only after a failure)

The causes come from comparing the canonical spec stored in the container's label with the
desired one (never raw `docker inspect` output), so engine defaults never cause a change.
"""

from __future__ import annotations

from typing import Any, Literal

from reconciler.actions import Action, CoreVerb, FieldChange
from reconciler.errors import PlanError
from reconciler.hashing import canonical_spec, spec_hash
from reconciler.providers.base import PlanContext
from reconciler.providers.docker.observe import DockerObserved, ObservedContainer
from reconciler.providers.docker.payloads import Create, Recreate, RunJob, Start, Update
from reconciler.resources import (
    ContainerSpec,
    DesiredState,
    ProvidedSecret,
    SecretRef,
    is_downgrade,
)

__all__ = [
    "PROVIDER",
    "absent_optional_networks",
    "container_action",
    "container_action_id",
    "ephemeral_secrets",
    "refuse_downgrade",
    "replace_strategy",
    "secret_names",
    "spec_changes",
    "updatable_changes",
]

PROVIDER = "docker"


def container_action_id(name: str) -> str:
    return f"docker:container:{name}"


def ephemeral_secrets(desired: DesiredState) -> frozenset[str]:
    return frozenset(
        r.name
        for r in desired.secrets
        if isinstance(r.generate, ProvidedSecret) and r.generate.ephemeral
    )


def secret_names(spec: ContainerSpec) -> list[str]:
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


def absent_optional_networks(desired: DesiredState, observed: DockerObserved) -> frozenset[str]:
    """Logical names of optional external networks that do not exist (yet)."""
    return frozenset(
        n.name
        for n in desired.networks
        if n.external and n.optional and n.external not in observed.external_networks
    )


def refuse_downgrade(spec: ContainerSpec, current: ObservedContainer) -> None:
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


def container_action(
    spec: ContainerSpec,
    current: ObservedContainer | None,
    observed: DockerObserved,
    ctx: PlanContext,
    ephemeral: frozenset[str],
    recreated: set[str],
) -> tuple[Action | None, list[str]]:
    """The one action `spec` needs given the container found under its name (None: nothing
    to do) and the notes on what is deliberately not done."""
    if current is None:
        return _create(spec), []
    canonical = canonical_spec(spec, ctx.secrets, ephemeral)
    causes, changes = _drift(spec, current, canonical, observed, ctx, ephemeral, recreated)
    if causes:
        return _replace(spec, current, causes, changes, ctx)
    if spec.role == "job":
        return _rerun_job(spec, current), []
    return _update_or_start(spec, current), []


def _base(spec: ContainerSpec) -> dict[str, Any]:
    return {
        "id": container_action_id(spec.name),
        "provider": PROVIDER,
        "resource": f"{spec.role} {spec.name}",
        "source": spec.source,
    }


def _create(spec: ContainerSpec) -> Action:
    """Missing: create it (a job: run it)."""
    job = spec.role == "job"
    return Action(
        **_base(spec),
        verb=CoreVerb.RUN_JOB if job else CoreVerb.CREATE,
        causes=("job never ran" if job else "container missing",),
        changes=(FieldChange(field="image", before=None, after=spec.image),),
        payload=RunJob(name=spec.name) if job else Create(name=spec.name),
    )


def _drift(
    spec: ContainerSpec,
    current: ObservedContainer,
    canonical: dict[str, Any],
    observed: DockerObserved,
    ctx: PlanContext,
    ephemeral: frozenset[str],
    recreated: set[str],
) -> tuple[list[str], list[FieldChange]]:
    """Why the existing container must be replaced (no causes: it need not be)."""
    causes: list[str] = []
    changes: list[FieldChange] = []
    if current.spec_hash != spec_hash(canonical):
        field_changes = spec_changes(current.spec, canonical)
        changes.extend(field_changes)
        causes.extend(_causes(field_changes) or ["spec hash differs"])
    image_id = observed.images.get(spec.image)
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
    job = spec.role == "job"
    if not job and current.status == "running" and current.health == "unhealthy" and not causes:
        causes.append("container is unhealthy")
    fresh = [n for n in secret_names(spec) if n in ephemeral and n in ctx.secrets_provided]
    if fresh:
        causes.append(f"receives {', '.join(fresh)}, provided anew by this apply")
    return causes, changes


def _replace(
    spec: ContainerSpec,
    current: ObservedContainer,
    causes: list[str],
    changes: list[FieldChange],
    ctx: PlanContext,
) -> tuple[Action | None, list[str]]:
    """Recreate (a job: run again), under its ReplacePolicy: the downgrade guard, deferral
    on the runner this apply runs on, the `before` command, the version change."""
    policy = spec.replace
    before = None
    version_change = None
    if policy is not None:
        refuse_downgrade(spec, current)
        if policy.defer_on_runner and policy.defer_on_runner == ctx.runner_name:
            return None, [
                f"{spec.name}: recreate deferred ({'; '.join(causes)}): this apply runs as "
                f"a job on runner {ctx.runner_name}; run it again from elsewhere"
            ]
        if policy.before:
            before = tuple(policy.before)
            causes = [*causes, f"first: {policy.before_description or ' '.join(policy.before)}"]
        if policy.version and current.version != policy.version:
            changes = [
                *changes,
                FieldChange(field="version", before=current.version, after=policy.version),
            ]
            # the old container must not be restarted on data the new one may have migrated
            if current.version:
                version_change = f"{current.version} → {policy.version}"
    payload: RunJob | Recreate
    if spec.role == "job":
        payload = RunJob(name=spec.name, replace=current.id)
    else:
        payload = Recreate(
            name=spec.name,
            replace=current.id,
            strategy=replace_strategy(spec),
            before=before,
            # the backup command runs in the old container: start it if it is not running
            start_for_before=bool(before) and current.status != "running",
            version_change=version_change,
        )
    action = Action(
        **_base(spec),
        verb=payload.verb,
        causes=tuple(causes),
        changes=tuple(changes),
        payload=payload,
    )
    return action, []


def replace_strategy(spec: ContainerSpec) -> Literal["start-first", "stop-first"]:
    """Prove a copy beside the old one, unless two writers on one volume (or namespace)
    would not be safe."""
    stateful = any(m.volume or m.bind for m in spec.mounts) or spec.network_mode is not None
    return "stop-first" if stateful else "start-first"


def _rerun_job(spec: ContainerSpec, current: ObservedContainer) -> Action | None:
    """A job that succeeded once is done; one that failed or never started runs again."""
    if current.status == "exited" and current.exit_code != 0:
        cause = f"last run failed (exit {current.exit_code})"
    elif current.status == "created":
        cause = "job was created but never started"
    else:
        return None
    return Action(
        **_base(spec),
        verb=CoreVerb.RUN_JOB,
        causes=(cause,),
        payload=RunJob(name=spec.name, replace=current.id),
    )


def _update_or_start(spec: ContainerSpec, current: ObservedContainer) -> Action | None:
    """Right spec: restart policy / limits updated in place, started when not running."""
    updates = updatable_changes(spec, current)
    not_running = current.status != "running"
    if not updates and not not_running:
        return None
    causes = [f"{c.field.replace('limits.', '').replace('_bytes', '')} differs" for c in updates]
    if not_running:
        state = current.status if current.status != "exited" else f"exited ({current.exit_code})"
        causes.append(f"container {state}")
    payload: Update | Start = (
        Update(name=spec.name, container_id=current.id, start=not_running)
        if updates
        else Start(name=spec.name, container_id=current.id)
    )
    return Action(
        **_base(spec),
        verb=payload.verb,
        causes=tuple(causes),
        changes=tuple(updates),
        payload=payload,
    )
