"""Carry out Docker actions exactly as planned: one small function per verb.

Nothing here decides *whether* to act; the plan did. The only branching is on what the
engine answers (a failed health gate → roll back to the old container). Docker SDK
exceptions become ApplyError here and nowhere else.
"""

from __future__ import annotations

import contextlib
from typing import Any

import docker
import docker.errors
import docker.types
import requests.exceptions
from docker.utils import parse_repository_tag

from reconciler import labels as L
from reconciler.actions import Action
from reconciler.clip import clip
from reconciler.errors import ApplyError
from reconciler.hashing import canonical_json, canonical_spec, spec_hash
from reconciler.providers.base import ExecContext
from reconciler.providers.docker import payloads as do
from reconciler.providers.docker.archive import put_file
from reconciler.providers.docker.health import GateFailure, last_logs, wait_healthy, wait_job
from reconciler.providers.docker.names import container_name, network_name, volume_name
from reconciler.providers.docker.replace import Replacement
from reconciler.resources import ContainerSpec, ProvidedSecret, SecretRef
from reconciler.secrets import SecretStore

__all__ = ["DockerExecutor"]

_NS = 1_000_000_000


class DockerExecutor:
    def __init__(self, client: docker.DockerClient, secrets: SecretStore) -> None:
        self.api: docker.APIClient = client.api
        self.secrets = secrets

    # -- dispatch ---------------------------------------------------------------------
    def execute(self, action: Action, ctx: ExecContext) -> None:
        try:
            self._dispatch(action, ctx)
        except ApplyError:
            raise
        except GateFailure as failure:
            raise ApplyError(
                action.id, failure.check, tuple(ctx.completed), failure.details
            ) from None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            message = self.secrets.redact(str(getattr(exc, "explanation", None) or exc))
            raise ApplyError(action.id, f"docker: {message}", tuple(ctx.completed)) from None

    def _dispatch(self, action: Action, ctx: ExecContext) -> None:
        """One method per verb, chosen by the payload's type (the plan decided the rest)."""
        match action.payload:
            case do.PullImage() as p:
                self._pull(action, p, ctx)
            case do.CreateNetwork() as p:
                self._create_network(p, ctx)
            case do.CreateVolume() as p:
                self._create_volume(p, ctx)
            case do.Create() as p:
                self._create(action, p, ctx)
            case do.Recreate() as p:
                Replacement(self, action, p, ctx).run()
            case do.RunJob() as p:
                self._run_job(action, p, ctx)
            case do.Update() as p:
                self._update(p, ctx)
            case do.Start() as p:
                self._start(p, ctx)
            case do.Bootstrap() as p:
                self._bootstrap(action, p, ctx)
            case do.RemoveOrphan() as p:
                self._remove_orphan(p)
            case do.RemoveNetwork() as p:
                self.api.remove_network(p.network_id)
            case do.RemoveVolume() as p:
                ctx.progress(f"deleting volume {p.name} (named by --remove-volume)")
                self.api.remove_volume(p.name)
            case _:
                raise ApplyError(action.id, f"the docker provider has no verb {action.verb!r}")

    # -- images, networks, volumes ----------------------------------------------------
    def _pull(self, action: Action, payload: do.PullImage, ctx: ExecContext) -> None:
        ref = payload.ref
        repo, tag = parse_repository_tag(ref)
        ctx.progress(f"pulling {ref}")
        layers: dict[str, str] = {}
        try:
            for event in self.api.pull(repo, tag=tag or "latest", stream=True, decode=True):
                if "error" in event:
                    raise docker.errors.APIError(event["error"])
                layer, status = event.get("id"), event.get("status")
                # one line per layer and state change, not one per progress tick
                if layer and status and layers.get(layer) != status:
                    layers[layer] = status
                    ctx.progress(f"{ref}: {layer} {status}")
            self.api.inspect_image(ref)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            detail = str(getattr(exc, "explanation", None) or exc)
            raise ApplyError(
                action.id,
                f"image {ref} is not on this engine and cannot be pulled ({clip(detail, 300)})",
                tuple(ctx.completed),
                (
                    "build or load it on this engine (e.g. `nox -s build`, `docker load`), "
                    "make its registry reachable and logged in, or deploy another reference "
                    "with `--image SERVICE=REF`",
                ),
            ) from None

    def _create_network(self, payload: do.CreateNetwork, ctx: ExecContext) -> None:
        name = payload.name
        spec = next(n for n in ctx.desired.networks if n.name == name)
        self.api.create_network(
            network_name(ctx.desired.project, name),
            driver="bridge",
            internal=spec.internal,
            check_duplicate=True,
            labels={**L.ownership(ctx.desired.project), L.RESOURCE: name, L.ROLE: "network"},
        )

    def _create_volume(self, payload: do.CreateVolume, ctx: ExecContext) -> None:
        name = payload.name
        self.api.create_volume(
            volume_name(ctx.desired.project, name),
            labels={**L.ownership(ctx.desired.project), L.RESOURCE: name, L.ROLE: "volume"},
        )

    def _remove_orphan(self, payload: do.RemoveOrphan) -> None:
        container_id = payload.container_id
        try:
            self.api.stop(container_id, timeout=10)
            self.api.remove_container(container_id, v=False)
        except docker.errors.NotFound:
            pass  # already gone: the goal is reached

    # -- containers -------------------------------------------------------------------
    def _ephemeral(self, ctx: ExecContext) -> frozenset[str]:
        return frozenset(
            r.name
            for r in ctx.desired.secrets
            if isinstance(r.generate, ProvidedSecret) and r.generate.ephemeral
        )

    def _secret(self, name: str, action: Action) -> str:
        value = self.secrets.get(name)
        if value is None:
            raise ApplyError(action.id, f"secret {name!r} has no value (its producer did not run)")
        return value

    def build(
        self,
        spec: ContainerSpec,
        ctx: ExecContext,
        action: Action,
        placement: do.Create | do.Recreate | do.RunJob,
        engine_name: str,
        *,
        publish: bool = True,
        alias: bool = True,
    ) -> str:
        """Create (not start) the container and put its files in; returns its ID."""
        project = ctx.desired.project
        ephemeral = self._ephemeral(ctx)
        canonical = canonical_spec(spec, self.secrets, ephemeral)
        image_id = self.api.inspect_image(spec.image)["Id"]
        labels = {
            **spec.labels,
            **L.ownership(project),
            L.RESOURCE: spec.name,
            L.ROLE: spec.role,
            L.OWNER: spec.owner,
            L.SOURCE: str(spec.source),
            L.SPEC_HASH: spec_hash(canonical),
            L.SPEC: canonical_json(canonical),
            L.IMAGE_ID: image_id,
            L.IMAGE_REF: spec.image,
        }
        if spec.replace is not None and spec.replace.version:
            labels[L.VERSION] = spec.replace.version
        env = {
            key: self._secret(value.secret, action) if isinstance(value, SecretRef) else value
            for key, value in spec.env.items()
        }
        mounts = [
            docker.types.Mount(
                target=m.target,
                source=volume_name(project, m.volume) if m.volume else m.bind,
                type="volume" if m.volume else "bind",
                read_only=m.read_only,
            )
            for m in spec.mounts
        ]
        # the networks to join now (plan leaves out optional external ones that are absent)
        joined = list(placement.networks if placement.networks is not None else spec.networks)
        if spec.network_mode and spec.network_mode.startswith("container:"):
            network_mode = "container:" + container_name(
                project, spec.network_mode.removeprefix("container:")
            )
        elif spec.network_mode:
            network_mode = spec.network_mode
        elif joined:
            network_mode = ctx.desired.network_engine_name(joined[0])
        else:
            network_mode = None
        host_kwargs: dict[str, Any] = {
            "mounts": mounts,
            "restart_policy": {"Name": spec.restart, "MaximumRetryCount": 0},
            # resolved by the plan (the symbol docker-socket → the socket's gid)
            "group_add": list(
                placement.group_add if placement.group_add is not None else spec.group_add
            )
            or None,
            "network_mode": network_mode,
            "privileged": spec.privileged,
        }
        if publish and spec.ports:
            host_kwargs["port_bindings"] = {
                f"{p.container_port}/{p.protocol}": (p.host_ip, p.host_port) for p in spec.ports
            }
        if spec.limits.memory_bytes:
            host_kwargs["mem_limit"] = spec.limits.memory_bytes
            host_kwargs["memswap_limit"] = -1
        if spec.limits.cpus:
            host_kwargs["cpu_period"] = 100_000
            host_kwargs["cpu_quota"] = round(spec.limits.cpus * 100_000)
        networking = None
        if joined and not spec.network_mode:
            first = ctx.desired.network_engine_name(joined[0])
            endpoint = self.api.create_endpoint_config(aliases=[spec.name] if alias else None)
            networking = self.api.create_networking_config({first: endpoint})
        health = None
        if spec.healthcheck is not None:
            hc = spec.healthcheck
            health = {
                "test": list(hc.test),
                "interval": int(hc.interval_s * _NS),
                "timeout": int(hc.timeout_s * _NS),
                "retries": hc.retries,
                "start_period": int(hc.start_period_s * _NS),
            }
        created = self.api.create_container(
            spec.image,
            name=engine_name,
            command=list(spec.command) if spec.command is not None else None,
            entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
            environment=env,
            labels=labels,
            host_config=self.api.create_host_config(**host_kwargs),
            networking_config=networking,
            healthcheck=health,
            user=spec.user or "",
            working_dir=spec.working_dir,
            hostname=spec.hostname,
            ports=[(p.container_port, p.protocol) for p in spec.ports] or None,
            stop_timeout=spec.stop_timeout_s,
            detach=True,
        )
        container_id: str = created["Id"]
        try:
            for extra in joined[1:] if not spec.network_mode else ():
                self.api.connect_container_to_network(
                    container_id,
                    ctx.desired.network_engine_name(extra),
                    aliases=[spec.name] if alias else None,
                )
            for file in spec.files:
                put_file(
                    self.api,
                    container_id,
                    file.target,
                    file.content.encode(),
                    mode=file.mode,
                    uid=file.uid,
                    gid=file.gid,
                )
            for secret_file in spec.secret_files:
                value = self.secrets.get(secret_file.secret)
                if value is None and secret_file.secret in ephemeral:
                    continue  # e.g. no auth key minted: the node already has its state
                put_file(
                    self.api,
                    container_id,
                    secret_file.target,
                    self._secret(secret_file.secret, action).encode(),
                    mode=secret_file.mode,
                    uid=secret_file.uid,
                    gid=secret_file.gid,
                )
        except BaseException:
            self.discard(container_id)
            raise
        return container_id

    def discard(self, container_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.api.remove_container(container_id, force=True, v=False)

    def start_and_gate(self, container_id: str, spec: ContainerSpec, ctx: ExecContext) -> None:
        self.api.start(container_id)
        wait_healthy(self.api, container_id, spec, ctx.progress, self.secrets.redact)

    def _create(self, action: Action, payload: do.Create, ctx: ExecContext) -> None:
        spec = ctx.desired.container(payload.name)
        engine = container_name(ctx.desired.project, spec.name)
        container_id = self.build(spec, ctx, action, payload, engine)
        try:
            self.start_and_gate(container_id, spec, ctx)
        except GateFailure:
            self.discard(container_id)
            raise

    def _run_job(self, action: Action, payload: do.RunJob, ctx: ExecContext) -> None:
        spec = ctx.desired.container(payload.name)
        if payload.replace:
            self.discard(payload.replace)
        engine = container_name(ctx.desired.project, spec.name)
        container_id = self.build(spec, ctx, action, payload, engine)
        self.api.start(container_id)
        wait_job(self.api, container_id, spec, ctx.progress, self.secrets.redact)

    def _update(self, payload: do.Update, ctx: ExecContext) -> None:
        spec = ctx.desired.container(payload.name)
        kwargs: dict[str, Any] = {
            "restart_policy": {"Name": spec.restart, "MaximumRetryCount": 0},
            "cpu_period": 100_000 if spec.limits.cpus else None,
            "cpu_quota": round(spec.limits.cpus * 100_000) if spec.limits.cpus else -1,
        }
        if spec.limits.memory_bytes:
            kwargs["mem_limit"] = spec.limits.memory_bytes
            kwargs["memswap_limit"] = -1
        self.api.update_container(payload.container_id, **kwargs)
        if payload.start:
            self.start_and_gate(payload.container_id, spec, ctx)

    def _start(self, payload: do.Start, ctx: ExecContext) -> None:
        self.start_and_gate(payload.container_id, ctx.desired.container(payload.name), ctx)

    # -- bootstrap --------------------------------------------------------------------
    def exec_command(
        self, container: str, command: list[str], env: dict[str, str], user: str | None
    ) -> tuple[int, str]:
        """Exit code and combined output (for messages)."""
        code, stdout, stderr = self._exec_split(container, command, env, user)
        return code, stdout + stderr

    def _exec_split(
        self, container: str, command: list[str], env: dict[str, str], user: str | None
    ) -> tuple[int, str, str]:
        """Exit code, stdout and stderr apart: a captured value is stdout alone, never a
        warning a CLI printed on stderr."""
        exec_id = self.api.exec_create(
            container, command, environment=env or None, user=user or ""
        )["Id"]
        stdout, stderr = self.api.exec_start(exec_id, demux=True)
        code = self.api.exec_inspect(exec_id).get("ExitCode")
        return (
            int(code if code is not None else -1),
            (stdout or b"").decode("utf-8", "replace"),
            (stderr or b"").decode("utf-8", "replace"),
        )

    def _bootstrap(self, action: Action, payload: do.Bootstrap, ctx: ExecContext) -> None:
        step = next(s for s in ctx.desired.bootstrap if s.id == payload.step)
        container = container_name(ctx.desired.project, step.container)
        env = {
            key: self._secret(value.secret, action) if isinstance(value, SecretRef) else value
            for key, value in step.env.items()
        }
        if step.probe is not None:
            code, _ = self.exec_command(container, list(step.probe), env, step.user)
            if code == 0:
                ctx.progress(f"{step.id}: already done (probe passed)")
                return
        ctx.progress(f"{step.id}: {step.description}")
        code, stdout, stderr = self._exec_split(container, list(step.command), env, step.user)
        if code != 0:
            details = (
                ("output hidden: this step produces a secret",)
                if step.capture_secret
                else tuple(
                    self.secrets.redact(line) for line in (stdout + stderr).splitlines()[-15:]
                )
            )
            raise ApplyError(
                action.id,
                f"bootstrap step {step.id!r} exited with code {code}",
                tuple(ctx.completed),
                details,
            )
        if step.capture_secret:
            self._capture(action, ctx, step.id, step.capture_secret, stdout)

    def _capture(
        self, action: Action, ctx: ExecContext, step_id: str, name: str, stdout: str
    ) -> None:
        value = stdout.strip()
        if not value or any(ch.isspace() for ch in value):
            what = "no value" if not value else "more than one value (words or lines)"
            raise ApplyError(
                action.id,
                f"bootstrap step {step_id!r} printed {what} on stdout for secret {name!r}; "
                "nothing was stored",
                tuple(ctx.completed),
                ("output hidden: this step produces a secret",),
            )
        self.secrets.put(name, value, persist=True)

    def logs(self, container_id: str) -> tuple[str, ...]:
        return tuple(self.secrets.redact(line) for line in last_logs(self.api, container_id))
