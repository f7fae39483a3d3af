"""Replacing a running container: the recreate verb, the one place with rollbacks.

Stateless services (no volumes, no shared namespace) are first proven in a copy beside the
old one (`start-first`); without published ports that copy simply becomes the service.
Otherwise a swap: the new container is created (files and secrets in) while the old one
serves, then old stopped → new started and gated; a failure removes the new one, renames
the old one back and starts it again, except after a version change (ReplacePolicy), where
the old one stays stopped because the new version may already have migrated its data.
A ReplacePolicy `before` command (a backup) runs in the old container first.
After an interrupted apply the old container is first restored from its leftover name
(plan_interrupted.py), so the same rollback applies to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.actions import Action
from reconciler.errors import ApplyError
from reconciler.providers.base import ExecContext
from reconciler.providers.docker.health import GateFailure, last_logs, wait_restored
from reconciler.providers.docker.names import NEXT_SUFFIX, OLD_SUFFIX, container_name
from reconciler.providers.docker.payloads import Recreate, Restore
from reconciler.resources import ContainerSpec

if TYPE_CHECKING:
    from reconciler.providers.docker.execute import DockerExecutor

__all__ = ["Replacement"]


class Replacement:
    """One `recreate` action, carried out exactly as planned."""

    def __init__(
        self, executor: DockerExecutor, action: Action, payload: Recreate, ctx: ExecContext
    ) -> None:
        self.executor = executor
        self.action = action
        self.payload = payload
        self.ctx = ctx
        self.spec = ctx.desired.container(payload.name)

    def run(self) -> None:
        action, ctx, spec, ex, payload = (
            self.action,
            self.ctx,
            self.spec,
            self.executor,
            self.payload,
        )
        old_id = payload.replace
        engine = container_name(ctx.desired.project, spec.name)
        if payload.restore is not None:
            self._restore(old_id, engine, payload.restore)
        if payload.before:
            self._before_replace(old_id, list(payload.before))
        if payload.strategy == "start-first":
            # Prove the new spec beside the old one (which keeps serving) first.
            candidate = ex.build(
                spec,
                ctx,
                action,
                payload,
                engine + NEXT_SUFFIX,
                publish=False,
                alias=not spec.ports,
            )
            try:
                ex.start_and_gate(candidate, spec, ctx)
            except GateFailure:
                ex.discard(candidate)
                raise
            if not spec.ports:
                ex.api.stop(old_id, timeout=spec.stop_timeout_s)
                ex.api.remove_container(old_id, v=False)
                ex.api.rename(candidate, engine)
                return
            ex.discard(candidate)
        self._swap(old_id, engine)

    def _restore(self, old_id: str, engine: str, restore: Restore) -> None:
        """Put the container an interrupted apply left renamed back under the service's name
        (discarding the unproven one there), so this replacement rolls back to it.

        A kill between these steps leaves the same kind of state, which the next plan
        resumes from again."""
        ex = self.executor
        if restore.discard:
            ex.discard(restore.discard)
        if restore.name != engine:
            ex.api.rename(old_id, engine)
        self.ctx.progress(
            f"{self.spec.name}: {restore.name} is back as {engine} (the rollback target)"
        )

    def _before_replace(self, old_id: str, before: list[str]) -> None:
        """Run the policy's command (a backup) in the old container; non-zero aborts.

        A stopped old container is started for it and stopped again if the command fails,
        so the engine is left as it was found."""
        action, ctx, spec, ex = self.action, self.ctx, self.spec, self.executor
        policy = spec.replace
        what = (policy.before_description if policy else None) or " ".join(before)
        started = False
        if self.payload.start_for_before:
            ctx.progress(f"{spec.name} is not running: starting it for {what!r}")
            ex.api.start(old_id)
            started = True
            if not wait_restored(ex.api, old_id, spec.health_timeout_s):
                ex.api.stop(old_id, timeout=spec.stop_timeout_s)
                raise ApplyError(
                    action.id,
                    f"{spec.name} must run for {what!r} before it is replaced, but it does not "
                    "start; nothing was replaced",
                    tuple(ctx.completed),
                    (
                        "back its volumes up by other means, then remove the container by hand "
                        f"(`docker rm {container_name(ctx.desired.project, spec.name)}`; its "
                        "volumes stay) and apply again: a missing container is simply created",
                        *(ex.secrets.redact(line) for line in last_logs(ex.api, old_id)),
                    ),
                )
        ctx.progress(f"{spec.name}: {what}")
        code, output = ex.exec_command(old_id, before, {}, policy.before_user if policy else None)
        if code != 0:
            if started:
                ex.api.stop(old_id, timeout=spec.stop_timeout_s)
            state = "stays stopped" if started else "keeps running"
            raise ApplyError(
                action.id,
                f"{what!r} exited with code {code}; {spec.name} was not replaced and {state}",
                tuple(ctx.completed),
                tuple(ex.secrets.redact(line) for line in output.splitlines()[-15:]),
            )

    def _swap(self, old_id: str, engine: str) -> None:
        """Replace the old container by a new one; on failure put the old one back.

        The new container is created (files and secrets in) while the old one still
        serves, so the downtime is only stop old → start new → healthy. After a version
        change the old one is put back *stopped*: the new version may already have
        migrated the data, which the old one cannot be trusted to open."""
        action, ctx, spec, ex = self.action, self.ctx, self.spec, self.executor
        new_id = ex.build(spec, ctx, action, self.payload, engine + NEXT_SUFFIX)
        version_change = self.payload.version_change
        old_renamed = False
        try:
            ex.api.rename(old_id, engine + OLD_SUFFIX)
            old_renamed = True
            ex.api.stop(old_id, timeout=spec.stop_timeout_s)
            ex.api.rename(new_id, engine)
            ex.start_and_gate(new_id, spec, ctx)
        except GateFailure as failure:
            self._put_back(old_id, engine, new_id, old_renamed, version_change)
            if version_change:
                raise GateFailure(
                    failure.check, (*failure.details, *_kept_stopped(spec, version_change))
                ) from None
            raise
        except BaseException:
            self._put_back(old_id, engine, new_id, old_renamed, version_change)
            raise
        ex.api.remove_container(old_id, v=False)

    def _put_back(
        self, old_id: str, engine: str, new_id: str, old_renamed: bool, version_change: str | None
    ) -> None:
        ctx, spec, ex = self.ctx, self.spec, self.executor
        ex.discard(new_id)
        if old_renamed:
            ex.api.rename(old_id, engine)
        if version_change:
            ctx.progress(f"rolled back: the previous {spec.name} is kept, stopped")
            return
        ex.api.start(old_id)
        if wait_restored(ex.api, old_id, spec.health_timeout_s):
            ctx.progress(f"rolled back: the previous {spec.name} container serves again")
        else:
            ctx.progress(f"rolled back, but the previous {spec.name} is not healthy either")


def _kept_stopped(spec: ContainerSpec, version_change: str) -> tuple[str, ...]:
    before = spec.replace.before_description if spec.replace else None
    return (
        f"version {version_change}: the previous {spec.name} container is kept but NOT "
        "restarted, because the new version may already have migrated its data.",
        "Fix the cause and apply again (the same upgrade is retried), or go back: "
        + (f"restore the backup ({before}), " if before else "restore a backup, ")
        + "declare the previous version and apply.",
    )
