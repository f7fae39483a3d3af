"""The Registry kind's YAML model (gitops/registry/*.yaml): a private distribution registry.

Authentication is always on (htpasswd, bcrypt, one password secret per user); the debug
server that carries the health endpoint listens inside the container only.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from reconciler.kinds.base import KindModel, StrictModel
from reconciler.stack import NAME_PATTERN

__all__ = ["GarbageCollection", "Registry", "RegistryUser"]

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]


class RegistryUser(StrictModel):
    """A user of the registry. The password lives in the secret `password_secret`."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    password_secret: Name | None = Field(
        default=None, description="secret holding this user's password (required)"
    )
    generate_password: bool = Field(
        default=True, description="generate the password on first apply if nobody set it"
    )


class GarbageCollection(StrictModel):
    """`nox -s registry_gc`: stop, `registry garbage-collect`, start (offline GC)."""

    delete_untagged: bool = Field(
        default=False, description="also delete manifests no tag points at (--delete-untagged)"
    )


class Registry(KindModel):
    kind: Literal["Registry"]
    name: Name = "registry"
    image: str = Field(default="registry:2.8", description="registry:2.x or registry:3.x")
    port: int | None = Field(default=5000, ge=1, le=65535, description="host port; null = none")
    volume: Name = "registry-data"
    delete_enabled: bool = Field(default=True, description="allow DELETE of manifests/blobs")
    realm: str = Field(default="Chocolate Factory registry", pattern=r'^[^"\n]+$')
    debug_port: int = Field(
        default=5001, ge=1, le=65535, description="debug/health server, never published"
    )
    users: list[RegistryUser] = Field(min_length=1)
    gc: GarbageCollection = GarbageCollection()
    health_timeout: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _unique_users(self) -> Registry:
        names = [user.name for user in self.users]
        if len(set(names)) != len(names):
            raise ValueError("user names must be unique")
        if self.debug_port == 5000:
            raise ValueError("debug_port must differ from the registry's port 5000")
        return self

    @property
    def major(self) -> int:
        """The distribution major version from the image tag (2 when it cannot be told)."""
        tag = self.image.rsplit(":", 1)[1] if ":" in self.image.rsplit("/", 1)[-1] else ""
        match = re.match(r"^v?(\d+)", tag)
        return int(match.group(1)) if match else 2

    @property
    def config_path(self) -> str:
        """Where the image keeps its config (registry:3 moved it)."""
        if self.major >= 3:
            return "/etc/distribution/config.yml"
        return "/etc/docker/registry/config.yml"
