"""The Service kind's YAML model (gitops/services/*.yaml): a generic container.

Short forms people know from compose are accepted where they are unambiguous
("127.0.0.1:18001:8000", "analytics-data:/data:ro") and turned into the long form here,
so errors still point at the exact node.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from reconciler.addresses import PublishIP, canonical_ip
from reconciler.kinds.base import KindModel, StrictModel
from reconciler.resources import SecretRef
from reconciler.stack import NAME_PATTERN

_SIZE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[kmgKMG]i?[bB]?|[bB])?$")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class Port(StrictModel):
    host: int = Field(ge=1, le=65535)
    container: int = Field(ge=1, le=65535)
    ip: PublishIP | None = Field(
        default=None,
        description="host address (IPv4 or IPv6, no names); default: stack "
        "defaults.publish_ip. 0.0.0.0 or :: publishes on every interface, and the plan says so",
    )
    protocol: Literal["tcp", "udp"] = "tcp"


_SHORT_FORMS = '"[IP:]HOST:CONTAINER[/tcp|udp]"'


def _parse_port(value: Any) -> Any:
    """The compose short form → the mapping, or a ValueError saying which part is wrong."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f"expected {_SHORT_FORMS} or a mapping, got {value!r} "
            f'(write "{value}:{value}" to publish it on the same port)'
        )
    if not isinstance(value, str):
        return value
    text = value.strip()
    spec, slash, protocol = text.partition("/")
    if slash and protocol not in ("tcp", "udp"):
        raise ValueError(f"protocol {protocol!r} is not tcp or udp")
    ip: str | None = None
    if spec.startswith("["):
        close = spec.find("]")
        if close < 0 or not spec[close + 1 :].startswith(":"):
            canonical_ip(spec.rsplit(":", 2)[0])  # raises, naming the address part
            raise ValueError(f'expected {_SHORT_FORMS} or a mapping, got "{value}"')
        ip, parts = spec[1:close], spec[close + 2 :].split(":")
        if len(parts) != 2:
            raise ValueError(f'expected {_SHORT_FORMS} or a mapping, got "{value}"')
    else:
        parts = spec.split(":")
        if len(parts) > 3:
            candidate = ":".join(parts[:-2])
            try:
                canonical_ip(candidate)
            except ValueError:
                raise ValueError(f'expected {_SHORT_FORMS} or a mapping, got "{value}"') from None
            raise ValueError(
                f"write an IPv6 address in brackets: [{candidate}]:{parts[-2]}:{parts[-1]}"
            )
        if len(parts) == 3:
            ip, parts = parts[0], parts[1:]
        elif len(parts) != 2:
            raise ValueError(f'expected {_SHORT_FORMS} or a mapping, got "{value}"')
    numbers = {}
    for label, part in zip(("host", "container"), parts, strict=True):
        if "-" in part:
            raise ValueError(f'port ranges are not supported ("{value}"): publish each port')
        if not (part.isascii() and part.isdigit()):
            raise ValueError(f'{label} port {part!r} is not a number (in "{value}")')
        number = int(part)
        if not 1 <= number <= 65535:
            raise ValueError(f"{label} port {number} is out of range (1-65535)")
        numbers[label] = number
    return {
        **numbers,
        "ip": canonical_ip(ip) if ip is not None else None,
        "protocol": protocol or "tcp",
    }


class VolumeMount(StrictModel):
    target: str = Field(pattern=r"^/")
    volume: str | None = Field(default=None, description="a volume declared in stack.yaml")
    bind: str | None = Field(default=None, pattern=r"^/", description="an absolute host path")
    read_only: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> VolumeMount:
        if (self.volume is None) == (self.bind is None):
            raise ValueError("give exactly one of `volume` (a declared volume) or `bind`")
        return self


def _parse_mount(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    parts = value.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise ValueError(f'expected "VOLUME:/path[:ro]" or a mapping, got "{value}"')
    source, target = parts[0], parts[1]
    mount: dict[str, Any] = {"target": target, "read_only": len(parts) == 3 and parts[2] == "ro"}
    mount["bind" if source.startswith("/") else "volume"] = source
    return mount


class File(StrictModel):
    """A config file put into the container before it starts (its content is hashed)."""

    target: str = Field(pattern=r"^/")
    source: str | None = Field(default=None, description="path relative to this YAML file")
    content: str | None = None
    config_of: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="the program that reads this file (e.g. factory-analytics): `gitops "
        "validate` checks it with that program's own configuration model, registered by "
        "its package under the entry-point group gitops.config_models",
    )
    mode: int = Field(default=0o644, ge=0, le=0o7777)
    uid: int = 0
    gid: int = 0

    @model_validator(mode="after")
    def _one_source(self) -> File:
        if (self.source is None) == (self.content is None):
            raise ValueError("give exactly one of `source` (a file next to this YAML) or `content`")
        return self


class SecretFileDecl(StrictModel):
    secret: str = Field(pattern=NAME_PATTERN)
    target: str = Field(pattern=r"^/")
    mode: int = Field(default=0o400, ge=0, le=0o7777)
    uid: int = 0
    gid: int = 0


class Healthcheck(StrictModel):
    """Either `http` (GET must answer 2xx; needs python3 in the image) or `command`."""

    http: str | None = Field(default=None, pattern=r"^https?://")
    command: list[str] | None = Field(default=None, min_length=1)
    interval: float = Field(default=5.0, gt=0)
    timeout: float = Field(default=3.0, gt=0)
    retries: int = Field(default=3, ge=1)
    start_period: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _one_probe(self) -> Healthcheck:
        if (self.http is None) == (self.command is None):
            raise ValueError("give exactly one of `http: URL` or `command: [...]`")
        return self


class Resources(StrictModel):
    """Updated in place (no restart) when they change."""

    memory: str | None = Field(default=None, description='e.g. "256m", "1g"')
    cpus: float | None = Field(default=None, gt=0)

    @field_validator("memory")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and _SIZE.match(value) is None:
            raise ValueError(f'expected a size like "256m" or "1g", got "{value}"')
        return value

    def memory_bytes(self) -> int | None:
        if self.memory is None:
            return None
        match = _SIZE.match(self.memory)
        assert match is not None
        unit = (match["unit"] or "").lower()[:1]
        return int(float(match["n"]) * _UNITS[unit])


EnvEntry = Annotated[str | SecretRef, Field(union_mode="left_to_right")]


class Service(KindModel):
    """A container declared in gitops/services/*.yaml."""

    kind: Literal["Service"]
    name: str = Field(pattern=NAME_PATTERN, max_length=48)
    image: str = Field(min_length=1, description="registry/name:tag or @sha256 digest")
    role: Literal["service", "job"] = Field(
        default="service",
        description="service: long-running, health-gated; job: one-shot, must exit 0, "
        "reruns only when its spec changes",
    )
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    env: dict[str, EnvEntry] = Field(default_factory=dict)
    ports: list[Annotated[Port, BeforeValidator(_parse_port)]] = Field(default_factory=list)
    volumes: list[Annotated[VolumeMount, BeforeValidator(_parse_mount)]] = Field(
        default_factory=list
    )
    files: list[File] = Field(default_factory=list)
    secret_files: list[SecretFileDecl] = Field(default_factory=list)
    healthcheck: Healthcheck | None = None
    restart: Literal["no", "always", "unless-stopped", "on-failure"] | None = None
    resources: Resources = Resources()
    depends_on: list[str] = Field(default_factory=list)
    networks: list[str] | None = Field(default=None, description="default: the stack network")
    network_mode: str | None = Field(default=None, pattern=r"^(host|none|container:[a-z0-9_.-]+)$")
    group_add: list[str] = Field(default_factory=list)
    user: str | None = None
    working_dir: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    health_timeout: float | None = Field(default=None, gt=0)

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return value
