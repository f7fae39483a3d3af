"""The Stack document (gitops/stack.yaml): project, engine, shared network, defaults,
shared volumes and the secrets catalogue. Exactly one per gitops/ directory."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from reconciler.addresses import PublishIP
from reconciler.kinds.base import StrictModel
from reconciler.resources import DerivedSecret, GeneratedSecret

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]


class DockerEndpoint(StrictModel):
    """Which engine to reconcile. DOCKER_HOST (and --docker-host) take precedence."""

    host: str | None = Field(
        default=None,
        description="e.g. unix:///var/run/docker.sock or ssh://deploy@factory; "
        "default: DOCKER_HOST, else the local socket",
    )
    socket_gid: int | None = Field(
        default=None,
        ge=0,
        description="numeric group of the engine's socket on the engine host (`stat -c %g "
        "/var/run/docker.sock` there), which `group_add: [docker-socket]` resolves to; "
        "needed only when the engine is reached over tcp:// or ssh://, since a local unix "
        "socket's group is read from the socket itself. When set, it wins.",
    )


class Defaults(StrictModel):
    """Values every service gets unless it says otherwise."""

    publish_ip: PublishIP = Field(
        default="127.0.0.1",
        description="host address ports are published on: an IPv4 or IPv6 address, never a "
        "name; 0.0.0.0 or :: publishes every port on every interface, and the plan says so",
    )
    restart: Literal["no", "always", "unless-stopped", "on-failure"] = "unless-stopped"
    health_timeout: float = Field(
        default=120.0, gt=0, description="seconds a new container has to become healthy"
    )
    stop_timeout: int = Field(default=10, ge=0, description="seconds between SIGTERM and SIGKILL")


class SecretDeclaration(StrictModel):
    """How a secret is obtained when nobody provides it."""

    generate: GeneratedSecret | None = None
    derive: DerivedSecret | None = None
    help: str | None = Field(
        default=None, description="how a person obtains it (shown when it is missing)"
    )


class SecretsConfig(StrictModel):
    """Where secrets are resolved from and which ones can be generated."""

    dir: str = Field(
        default="../.secrets",
        description="directory of one file per secret, relative to gitops/ (git-ignored)",
    )
    env_file: str = Field(default="../.env", description="dotenv file, relative to gitops/")
    declare: dict[Name, SecretDeclaration] = Field(default_factory=dict)


class ExternalNetwork(StrictModel):
    """A network another project owns, which services may join by its key here."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="its name on the engine (`docker network ls`), e.g. chocolate-factory_backend",
    )
    optional: bool = Field(
        default=False,
        description="deploy without it while it does not exist (its owner is not running "
        "yet); false: a plan that needs it stops",
    )
    description: str | None = None


class VolumeDeclaration(StrictModel):
    """A shared named volume. Never deleted unless `gitops apply --remove-volume NAME`."""

    description: str | None = None


class Stack(StrictModel):
    """gitops/stack.yaml."""

    kind: Literal["Stack"]
    project: Name = Field(description="prefix of every container/network/volume; label value")
    docker: DockerEndpoint = DockerEndpoint()
    network: Name = Field(default="factory", description="the shared bridge network")
    defaults: Defaults = Defaults()
    secrets: SecretsConfig = SecretsConfig()
    volumes: dict[Name, VolumeDeclaration | None] = Field(default_factory=dict)
    external_networks: dict[Name, ExternalNetwork] = Field(
        default_factory=dict,
        description="networks of other projects services may join (`networks: [factory, "
        "KEY]`); gitops never creates, changes or removes them, and a plan that needs a "
        "missing one stops",
    )

    @field_validator("project")
    @classmethod
    def _project_not_reserved(cls, value: str) -> str:
        if re.fullmatch(r"gitops|lock", value):
            raise ValueError(f"project name {value!r} is reserved")
        return value
