"""The RunnerPool kind's YAML model (gitops/runners/*.yaml): Forgejo Actions runners.

A pool is N identical runners registered with one Forgejo. Everything the hand-run setup
got wrong is explicit here: how jobs reach Docker (host socket plus its group, since the
runner runs as UID 1000), the cache host/port jobs use, the scope, the labels and their
schemes. Cross-document checks (the named Forgejo exists) happen in compile, with file:line.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from reconciler.kinds.base import KindModel, StrictModel
from reconciler.stack import NAME_PATTERN

__all__ = ["LABEL_SCHEMES", "Cache", "DockerAccess", "RunnerPool", "parse_label"]

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]
Duration = Annotated[str, Field(pattern=r"^\d+(ms|s|m|h)$")]
LABEL_SCHEMES = ("docker", "host", "lxc")
_LABEL = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?::(?P<scheme>[^:/]+)(?::?//(?P<arg>\S+))?)?$"
)


def parse_label(label: str) -> tuple[str, str, str | None]:
    """`ubuntu:docker://node:22` → ("ubuntu", "docker", "node:22"); `self-hosted:host`.

    Raises ValueError naming the problem (unknown scheme, `host` with an image, no image).
    """
    match = _LABEL.match(label)
    if not match:
        raise ValueError(f"{label!r} is not NAME:SCHEME[://IMAGE]")
    name, scheme, arg = match["name"], match["scheme"], match["arg"]
    if scheme is None:
        raise ValueError(
            f"label {label!r} has no scheme (the runner would pick docker://node:22-bookworm)"
        )
    if scheme not in LABEL_SCHEMES:
        raise ValueError(f"label {label!r}: unknown scheme {scheme!r}")
    if scheme == "host" and arg:
        raise ValueError(f"label {label!r}: `host` takes no image since runner v8")
    if scheme in ("docker", "lxc") and not arg:
        raise ValueError(f"label {label!r}: `{scheme}` needs an image, as {name}:{scheme}://IMAGE")
    return name, scheme, arg


class DockerAccess(StrictModel):
    """How the runner (and jobs, with `automount`) reach a Docker engine.

    `socket`: the host's socket is mounted and its group added, because the runner image
    runs as UID 1000 and the socket is root:docker 0660. The group defaults to the symbol
    `docker-socket`, which the Docker provider resolves to the socket's gid on the engine
    host; an explicit number still overrides it. `dind`: a privileged docker:dind sidecar
    per pool, reached over TLS (port 2376, client certificates in a volume only the pool's
    runners mount), so other containers on the stack network cannot drive it.
    """

    mode: Literal["socket", "dind"] = "socket"
    socket: str = Field(default="/var/run/docker.sock", pattern=r"^/")
    socket_gid: Annotated[int, Field(ge=0)] | Literal["docker-socket"] = Field(
        default="docker-socket",
        description="group added to the runner for the socket: `docker-socket` (resolved "
        "to the socket's gid by the Docker provider) or an explicit number",
    )
    dind_image: str = "docker:28-dind"
    jobs_get_docker: bool = Field(
        default=True,
        description="mount the engine into job containers (needed by deploy jobs); "
        "a job can then control every container on that engine",
    )


class Cache(StrictModel):
    """The runner's built-in cache server, at a fixed port so jobs can reach it."""

    enabled: bool = True
    port: int = Field(default=4000, ge=1, le=65535)
    proxy_port: int = Field(default=4001, ge=1, le=65535)


class RunnerPool(KindModel):
    """Runners registered with `forgejo` through the offline shared-secret flow."""

    kind: Literal["RunnerPool"]
    forgejo: Name = Field(default="forgejo", description="name of the Forgejo document")
    image: str = "data.forgejo.org/forgejo/runner:12"
    count: int | None = Field(default=None, ge=1, le=32)
    names: list[Name] | None = Field(default=None, min_length=1)
    labels: list[str] = Field(min_length=1)
    scope: str = Field(
        default="instance",
        pattern=r"^(instance|[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?)$",
        description="`instance`, an owner (`factory`) or a repository (`factory/app`)",
    )
    capacity: int = Field(default=1, ge=1, le=64)
    timeout: Duration = "3h"
    shutdown_timeout: Duration = "3h"
    fetch_interval: Duration = "2s"
    fetch_timeout: Duration = "5s"
    cache: Cache = Cache()
    docker: DockerAccess
    job_network: Literal["stack", "host"] = Field(
        default="stack",
        description="where job containers run (socket mode): `stack` = the stack's network, "
        "so jobs reach `forgejo`, the registry and the cache by name; `host` = the host's "
        "network namespace, so services published on 127.0.0.1 (the registry, containers "
        "that tests start) are at 127.0.0.1 as on the maintainer's machine, but stack names "
        "do not resolve. With `dind`, jobs always share the DinD container's namespace.",
    )
    envs: dict[str, str] = Field(default_factory=dict, description="env of every job")
    container_options: str = Field(default="", description="extra `docker run` flags for jobs")
    secret: Name = Field(
        default="runner-registration-secret",
        description="base secret each runner's registration secret is derived from "
        "(generated on first apply)",
    )

    @field_validator("envs")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"{key!r} is not an environment variable name")
        return value

    @model_validator(mode="after")
    def _count_or_names(self) -> RunnerPool:
        if self.count is not None and self.names is not None:
            raise ValueError("give `count` or `names`, not both")
        if self.names is not None and len(set(self.names)) != len(self.names):
            raise ValueError("runner names must be unique")
        return self

    def runner_names(self) -> list[str]:
        if self.names is not None:
            return list(self.names)
        return [f"{self.name}-{i}" for i in range(1, (self.count or 1) + 1)]
