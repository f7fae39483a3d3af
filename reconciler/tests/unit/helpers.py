"""Plain-data builders for unit tests: a gitops/ tree on disk, desired specs, and the
observed containers an apply of them would have produced (no engine involved)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from reconciler.hashing import canonical_json, canonical_spec, spec_hash
from reconciler.providers.docker.observe import DockerObserved, ObservedContainer
from reconciler.resources import ContainerSpec, DesiredState
from reconciler.secrets import SecretStore
from reconciler.source import SourceLocation

HERE = SourceLocation(file="gitops/services/x.yaml", line=1, column=1)

STACK = """
kind: Stack
project: demo
network: net
volumes:
  data: {}
"""


def write_tree(root: Path, files: dict[str, str]) -> Path:
    gitops = root / "gitops"
    for name, text in {"stack.yaml": STACK, **files}.items():
        path = gitops / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return gitops


def spec(name: str = "web", **changes: object) -> ContainerSpec:
    base: dict[str, object] = {
        "name": name,
        "image": "example/web:1",
        "env": {"MODE": "prod"},
        "networks": ("net",),
        "owner": f"Service/{name}",
        "source": HERE,
    }
    base.update(changes)
    return ContainerSpec.model_validate(base)


def store(values: dict[str, str] | None = None, tmp: Path | None = None) -> SecretStore:
    from reconciler.resources import SecretRequirement

    where = tmp or Path("/nonexistent")
    values = values or {}
    return SecretStore(
        "demo",
        tuple(SecretRequirement(name=name, needed_by=("test",)) for name in values),
        environ={k.upper(): v for k, v in values.items()},
        env_file=where / ".env",
        secrets_dir=where / ".secrets",
    )


def applied(
    desired: ContainerSpec,
    secrets: SecretStore,
    *,
    image_id: str = "sha256:aaa",
    status: str = "running",
    exit_code: int = 0,
    health: str | None = None,
    restart: str | None = None,
    memory: int | None = None,
    project: str = "demo",
) -> ObservedContainer:
    """The container `gitops apply` would have left for `desired`."""
    canonical = canonical_spec(desired, secrets)
    import json

    return ObservedContainer(
        id=f"id-{desired.name}",
        name=f"{project}-{desired.name}",
        resource=desired.name,
        role=desired.role,
        status=status,
        exit_code=exit_code,
        health=health,
        spec_hash=spec_hash(canonical),
        spec=json.loads(canonical_json(canonical)),
        image_id_label=image_id,
        image_ref_label=desired.image,
        image_id=image_id,
        version=None,
        restart=restart or desired.restart,
        memory=memory if memory is not None else (desired.limits.memory_bytes or 0),
        cpu_quota=round((desired.limits.cpus or 0) * 100_000),
        networks=tuple(f"{project}_{n}" for n in desired.networks),
        volumes=(),
    )


def desired_state(*containers: ContainerSpec) -> DesiredState:
    from reconciler.resources import NetworkSpec, VolumeSpec

    return DesiredState(
        project="demo",
        networks=(NetworkSpec(name="net", source=HERE),),
        volumes=(VolumeSpec(name="data", source=HERE),),
        containers=containers,
    )


def observed(
    *containers: ObservedContainer, images: dict[str, str | None] | None = None, **extra: object
) -> DockerObserved:
    from reconciler.providers.docker.observe import ObservedNetwork, ObservedVolume

    defaults: dict[str, object] = {
        "networks": (ObservedNetwork(id="n1", name="demo_net", resource="net"),),
        "volumes": (ObservedVolume(name="demo_data", resource="data"),),
        "images": images if images is not None else {"example/web:1": "sha256:aaa"},
    }
    defaults.update(extra)
    return DockerObserved(containers=containers, **defaults)  # type: ignore[arg-type]
