"""`tailscale:` on the Forgejo and Registry kinds: the same sidecar a Service gets (its own
node, HTTPS through Serve, state in a declared volume), compiled from the repository's
loader. Both must stay reachable on the stack network (runners clone from forgejo:3000,
the engine pushes to the registry's published port), so they need `listen: all`, and the
default (loopback) is refused with the fix."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from reconciler.errors import ConfigError
from reconciler.project import load_project

REPO = Path(__file__).resolve().parents[3]

STACK = """
kind: Stack
project: tsk
volumes:
  forgejo-tailscale: {}
  registry-tailscale: {}
"""
FORGEJO = """
kind: Forgejo
root_url: https://git.example.ts.net/
admin: {email: admin@factory.example}
tailscale:
  hostname: git
  tags: [tag:forgejo]
  state_volume: forgejo-tailscale
  serve: {443: 3000}
  LISTEN
"""
REGISTRY = """
kind: Registry
users:
  - {name: ci, password_secret: registry-ci-password}
tailscale:
  hostname: registry
  tags: [tag:registry]
  state_volume: registry-tailscale
  serve: {443: 5000}
  listen: all
"""


def tree(tmp_path: Path, listen: str) -> Path:
    gitops = tmp_path / "gitops"
    files = {
        "stack.yaml": STACK,
        "forgejo/forgejo.yaml": FORGEJO.replace("LISTEN", listen),
        "registry/registry.yaml": REGISTRY,
    }
    for name, text in files.items():
        path = gitops / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    shutil.copytree(REPO / "gitops" / "tailscale", gitops / "tailscale")
    return gitops


def test_forgejo_and_registry_get_a_sidecar_in_their_namespace(tmp_path: Path) -> None:
    desired = load_project(tree(tmp_path, "listen: all")).desired
    by_name = {c.name: c for c in desired.containers}
    for service, state in (("forgejo", "forgejo-tailscale"), ("registry", "registry-tailscale")):
        sidecar = by_name[f"{service}-tailscale"]
        assert sidecar.network_mode == f"container:{service}"
        assert any(m.volume == state for m in sidecar.mounts)
        assert by_name[service].ports  # still published: listen: all
    serve = next(
        f.content for f in by_name["forgejo-tailscale"].files if f.target.endswith(".json")
    )
    assert "http://127.0.0.1:3000" in serve


def test_forgejo_behind_a_sidecar_must_say_it_listens_on_all(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_project(tree(tmp_path, "listen: loopback"))
    text = str(error.value)
    assert "gitops/forgejo/forgejo.yaml" in text
    assert "listen: all" in text
