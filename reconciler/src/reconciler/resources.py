"""The generic desired state every kind compiles into (and nothing else).

Kinds (Service, Forgejo, RunnerPool, Registry, Tailnet…) turn their YAML into these plain,
frozen values; providers only ever see these. Names here are *logical* (``mcp``,
``analytics-data``); the Docker provider derives engine names from them and the project
(``<project>-mcp``, ``<project>_analytics-data``).

Secret values never live here: a container refers to a secret by name (`SecretRef`), and
`SecretRequirement` says who needs it and whether/how it can be generated.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.addresses import PublishIP
from reconciler.source import SourceLocation

__all__ = [
    "BootstrapStep",
    "Compiled",
    "ComputedSecret",
    "ContainerSpec",
    "DerivedSecret",
    "DesiredState",
    "EnvValue",
    "FileSpec",
    "GeneratedSecret",
    "Healthcheck",
    "Limits",
    "Mount",
    "NetworkSpec",
    "NodeLoginProbe",
    "PortSpec",
    "ProvidedSecret",
    "ReplacePolicy",
    "SecretFile",
    "SecretRef",
    "SecretRequirement",
    "VolumeSpec",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretRef(_Frozen):
    """`{secret: name}` wherever a value may come from a secret."""

    secret: str


EnvValue = str | SecretRef


class NetworkSpec(_Frozen):
    """A bridge network; containers join it with their logical name as DNS alias.

    `external`: the engine name of a network someone else owns (e.g. the factory API's
    compose network): joined, never created, changed or removed by gitops. `optional`: while
    it does not exist, containers are created without it (the plan says so) and join it on
    the first apply after it appears."""

    name: str
    internal: bool = False
    external: str | None = None
    optional: bool = False
    source: SourceLocation


class VolumeSpec(_Frozen):
    """A named volume. Created when missing; never removed unless named by --remove-volume."""

    name: str
    source: SourceLocation


class PortSpec(_Frozen):
    """A published port. host_ip defaults to loopback: exposure is always a decision, and
    only an IP address reaches Docker (which reads anything else as every interface)."""

    host_ip: PublishIP = "127.0.0.1"
    host_port: int
    container_port: int
    protocol: Literal["tcp", "udp"] = "tcp"


class Mount(_Frozen):
    """A named volume (`volume`, logical name) or a host path (`bind`) at `target`."""

    target: str
    volume: str | None = None
    bind: str | None = None
    read_only: bool = False


class FileSpec(_Frozen):
    """A file put into the container before it starts (docker put_archive, no bind mount,
    so it works when the reconciler itself runs inside a CI job container). Its content
    is part of the spec hash: editing it recreates the container, and the plan says so."""

    target: str
    content: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    origin: str | None = None  # e.g. "gitops/services/app.conf", shown in plan causes


class SecretFile(_Frozen):
    """A secret written as a file into the container before start (owner-only by default)."""

    secret: str
    target: str
    mode: int = 0o400
    uid: int = 0
    gid: int = 0


class Healthcheck(_Frozen):
    """Docker HEALTHCHECK; `test` is the exec form (["CMD", ...] or ["CMD-SHELL", "..."])."""

    test: tuple[str, ...]
    interval_s: float = 5.0
    timeout_s: float = 3.0
    retries: int = 3
    start_period_s: float = 0.0


class Limits(_Frozen):
    """Updatable in place (docker update), never a reason to recreate."""

    memory_bytes: int | None = None
    cpus: float | None = None


class ReplacePolicy(_Frozen):
    """What recreating a container that owns versioned data must respect (e.g. Forgejo).

    * `version`: dotted numbers stamped as the label `…version`; the docker planner refuses
      (PlanError citing `version_source` and `downgrade_help`) to replace a running container
      whose label names a higher version, because the new one could not open the data
      (`is_downgrade`: a moving `15` after a pinned `15.0.2` is not one). A failed health
      gate after a version change does not restart the old container on data the new one
      may have migrated: it stays stopped and apply says how to restore the backup.
    * `before`: a command exec'd in the *running* container right before it is stopped for
      a recreate (e.g. `forgejo dump` into a backup volume); non-zero exit aborts the
      recreate and the old container keeps serving. The plan shows `before_description`.
    * `defer_on_runner`: the name of the CI runner this container is. When apply itself runs
      as a job on that runner (env `GITOPS_RUNNER_NAME`), the recreate is not planned and
      the plan says so in a note, so a deploy never kills the runner executing it.
    """

    version: str | None = None
    version_source: SourceLocation | None = None  # where `version` is declared (not hashed)
    downgrade_help: str | None = None
    before: tuple[str, ...] | None = None
    before_user: str | None = None
    before_description: str | None = None
    defer_on_runner: str | None = None


def is_downgrade(declared: str, running: str) -> bool:
    """True when `declared` lowers a dotted part both versions name (`15` after `15.0.2`:
    no; `15.0.1` after `15.0.2`: yes). Non-numeric parts are ignored."""
    mine = [int(part) for part in re.findall(r"\d+", declared)]
    theirs = [int(part) for part in re.findall(r"\d+", running)]
    for new, old in zip(mine, theirs, strict=False):
        if new != old:
            return new < old
    return False


class ContainerSpec(_Frozen):
    """One container. `role` service = long-running, health-gated; job = one-shot that
    succeeds on exit 0 and reruns only when its spec hash changes."""

    name: str
    role: Literal["service", "job"] = "service"
    image: str
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: dict[str, EnvValue] = Field(default_factory=dict)
    ports: tuple[PortSpec, ...] = ()
    mounts: tuple[Mount, ...] = ()
    files: tuple[FileSpec, ...] = ()
    secret_files: tuple[SecretFile, ...] = ()
    healthcheck: Healthcheck | None = None
    restart: Literal["no", "always", "unless-stopped", "on-failure"] = "unless-stopped"
    limits: Limits = Limits()
    networks: tuple[str, ...] = ()
    network_mode: str | None = None  # "container:<logical name>" for sidecars, "host", "none"
    group_add: tuple[str, ...] = ()
    privileged: bool = False  # only for what cannot work otherwise (a docker:dind sidecar)
    user: str | None = None
    working_dir: str | None = None
    hostname: str | None = None  # e.g. a TLS server certificate's name (docker:dind)
    labels: dict[str, str] = Field(default_factory=dict)
    depends_on: tuple[str, ...] = ()  # logical container names, must be healthy/done first
    health_timeout_s: float = 120.0
    stop_timeout_s: int = 10
    replace: ReplacePolicy | None = None
    owner: str  # the declaring document, e.g. "Service/mcp", "Forgejo/forgejo"
    source: SourceLocation


class BootstrapStep(_Frozen):
    """A command run inside a running, healthy container after it is (re)created, e.g.
    "create the admin user". `probe` (exit 0 = already done) is run by observe and again
    right before the step, so a step runs only when needed. When `capture_secret` is set,
    the command's stdout (stripped) becomes that secret's value, stored like a generated
    secret (0600) and never printed."""

    id: str  # unique, e.g. "forgejo:admin-user"
    container: str  # logical container name
    command: tuple[str, ...]
    probe: tuple[str, ...] | None = None
    env: dict[str, EnvValue] = Field(default_factory=dict)
    user: str | None = None
    capture_secret: str | None = None
    after: tuple[str, ...] = ()  # other step ids that must run first
    # other containers whose creation/recreation also schedules this step (e.g. a runner's
    # registration, run in the Forgejo container, when the runner or its secret changes)
    triggers: tuple[str, ...] = ()
    # revokes CI runners no longer declared: deferred while this apply runs as a job on one
    # of them (its token would be revoked mid-job), like ReplacePolicy.defer_on_runner
    revokes_runners: bool = False
    description: str
    owner: str
    source: SourceLocation


class GeneratedSecret(_Frozen):
    """Random, generated on first apply into the secrets dir (0600) and reused."""

    how: Literal["random"] = "random"
    length: int = 32
    alphabet: Literal["hex", "urlsafe", "alnum"] = "urlsafe"


class DerivedSecret(_Frozen):
    """Computed from another secret: hex(HMAC-SHA256(key=secret(from_secret), context))
    cut to `length` chars. Never stored; rotating the base rotates every derived one."""

    how: Literal["derived"] = "derived"
    from_secret: str
    context: str
    length: int = 40


class ProvidedSecret(_Frozen):
    """Produced during apply by a provider action (e.g. a Tailscale auth key minted by the
    Tailscale provider) or captured by a bootstrap step. `ephemeral` ones are kept in
    memory only and are not part of any spec hash."""

    how: Literal["provided"] = "provided"
    by: str  # provider name ("tailscale") or "bootstrap:<step id>"
    ephemeral: bool = False


class ComputedSecret(_Frozen):
    """A value computed from other secrets by a function listed in
    `reconciler.builtin.SECRET_FUNCTIONS` (e.g. "htpasswd": the registry's bcrypt
    file from its users' passwords). `inputs` maps the function's argument names to secret
    names; `params` is plain data. Never stored; its digest changes when any input does.
    The function must be deterministic, or every plan would see a change."""

    how: Literal["computed"] = "computed"
    function: str
    inputs: dict[str, str]
    params: dict[str, str] = Field(default_factory=dict)


SecretSource = Annotated[
    GeneratedSecret | DerivedSecret | ProvidedSecret | ComputedSecret,
    Field(discriminator="how"),
]


class SecretRequirement(_Frozen):
    """A secret some resource needs. `generate` None = a person must provide it, and
    `help` tells them how (which page to create it on, what format)."""

    name: str
    needed_by: tuple[str, ...]
    generate: SecretSource | None = None
    help: str | None = None
    source: SourceLocation | None = None
    # The YAML path of a `{secret: name}` that only refers to the secret (`env.DB_PASSWORD`),
    # at `source`. A reference declares nothing: stack.yaml's `secrets.declare` or a kind
    # (one of whose requirements has no `reference`) must, or validate reports it there.
    reference: str | None = None


class NodeLoginProbe(_Frozen):
    """A question for the Docker observe (in `Compiled.extra["docker"]`): is the Tailscale
    node kept in state volume `volume` logged in? Asked by a `tailscale:` sidecar, answered as
    a plain value in the Docker snapshot (`DockerObserved.node_logins[container]`), which the
    Tailscale plan reads; so only the Docker provider ever talks to the engine."""

    container: str  # logical name of the sidecar container
    volume: str  # logical name of its state volume
    images_of: tuple[str, ...] = ()  # containers whose images may mount the volume to read it


class Compiled(_Frozen):
    """What one kind document compiles to. Kinds return it; the core merges them."""

    networks: tuple[NetworkSpec, ...] = ()
    volumes: tuple[VolumeSpec, ...] = ()
    containers: tuple[ContainerSpec, ...] = ()
    bootstrap: tuple[BootstrapStep, ...] = ()
    secrets: tuple[SecretRequirement, ...] = ()
    # Desired state for other providers, keyed by provider name (e.g. "tailscale"): opaque
    # to the core, handed to that provider's observe/plan unchanged.
    extra: dict[str, tuple[BaseModel, ...]] = Field(default_factory=dict)


class DesiredState(_Frozen):
    """Everything declared, compiled and merged: the only input of plan besides observed."""

    project: str
    networks: tuple[NetworkSpec, ...] = ()
    volumes: tuple[VolumeSpec, ...] = ()
    containers: tuple[ContainerSpec, ...] = ()
    bootstrap: tuple[BootstrapStep, ...] = ()
    secrets: tuple[SecretRequirement, ...] = ()
    extra: dict[str, tuple[BaseModel, ...]] = Field(default_factory=dict)

    def network_engine_name(self, name: str) -> str:
        """The engine's name of logical network `name` (`<project>_<name>`, or an external
        network's own name)."""
        for net in self.networks:
            if net.name == name and net.external:
                return net.external
        return f"{self.project}_{name}"

    def container(self, name: str) -> ContainerSpec:
        for spec in self.containers:
            if spec.name == name:
                return spec
        raise KeyError(name)
