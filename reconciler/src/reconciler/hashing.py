"""The desired-spec hash: what a container *is*, as one canonical JSON document.

compose and Terraform recreated too often (comparing `docker inspect` output, where image
defaults leak in) or too rarely (ignoring mounted file contents). Here the hash covers
exactly what we declare: the normalised spec, every file's content (as sha256) and every
secret's salted digest, and nothing the engine fills in. Updatable fields (restart policy,
limits) are left out: they are compared and updated in place. The image is compared by ID
separately (a retag or a digest override of the same image is not a change).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reconciler.providers.base import SecretValues
from reconciler.resources import ContainerSpec, SecretRef

__all__ = ["canonical_json", "canonical_spec", "spec_hash"]

_NOT_HASHED = {
    "image",
    "restart",
    "limits",
    "depends_on",
    "health_timeout_s",
    "owner",
    "source",
}
_ADDED_LATER = ("hostname",)


def _secret(name: str, secrets: SecretValues, ephemeral: bool) -> dict[str, str]:
    return {"secret": name} if ephemeral else {"secret": name, "digest": secrets.digest(name)}


def canonical_spec(
    spec: ContainerSpec, secrets: SecretValues, ephemeral: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The JSON-able view that is hashed and stored in the `…spec` label."""
    # Fields added after the first release are left out while unset, so adding one does
    # not change the hash (and recreate) every container that does not use it.
    unset_new = {name for name in _ADDED_LATER if getattr(spec, name) is None}
    data = spec.model_dump(mode="json", exclude=_NOT_HASHED | unset_new)
    if isinstance(data.get("replace"), dict):
        data["replace"].pop("version_source", None)  # a location, not behaviour
    data["env"] = {
        key: (
            _secret(value.secret, secrets, value.secret in ephemeral)
            if isinstance(value, SecretRef)
            else value
        )
        for key, value in sorted(spec.env.items())
    }
    data["files"] = [
        {
            "target": f.target,
            "sha256": hashlib.sha256(f.content.encode()).hexdigest(),
            "mode": oct(f.mode),
            "uid": f.uid,
            "gid": f.gid,
        }
        for f in sorted(spec.files, key=lambda f: f.target)
    ]
    data["secret_files"] = [
        {
            **_secret(f.secret, secrets, f.secret in ephemeral),
            "target": f.target,
            "mode": oct(f.mode),
            "uid": f.uid,
            "gid": f.gid,
        }
        for f in sorted(spec.secret_files, key=lambda f: f.target)
    ]
    return data


def canonical_json(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(data: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(data).encode()).hexdigest()
