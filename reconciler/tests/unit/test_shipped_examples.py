"""The shipped gitops/ is valid as it is, and stays valid with its commented Tailscale
blocks turned on (the README's "reach everything over the tailnet" procedure), so the
example a person follows cannot rot."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from reconciler.project import load_project

GITOPS = Path(__file__).resolve().parents[3] / "gitops"
COMMENTED = re.compile(
    r"^(\s*)# (tailscale:|  hostname:|  tags:|  state_volume:|  serve:|  listen:"
    r"|[a-z]+-tailscale:)(.*)$"
)


def uncomment(text: str) -> str:
    lines = []
    for line in text.splitlines():
        match = COMMENTED.match(line)
        lines.append(match.group(1) + match.group(2) + match.group(3) if match else line)
    return "\n".join(lines) + "\n"


def test_the_shipped_stack_is_valid() -> None:
    names = {c.name for c in load_project(GITOPS).desired.containers}
    assert {"forgejo", "registry", "runner-1", "engine-1", "mcp", "analytics"} <= names


def test_the_commented_tailscale_blocks_are_valid_once_turned_on(tmp_path: Path) -> None:
    gitops = tmp_path / "gitops"
    shutil.copytree(GITOPS, gitops)
    for path in [gitops / "stack.yaml", *gitops.glob("*/*.yaml")]:
        path.write_text(uncomment(path.read_text()))
    mcp = gitops / "services" / "mcp.yaml"
    # the procedure says: remove `ports:` (a loopback-only service cannot be published)
    mcp.write_text(re.sub(r"\nports:\n(  - .*\n)+", "\n", mcp.read_text()))
    desired = load_project(gitops).desired
    sidecars = {c.name: c for c in desired.containers if c.name.endswith("-tailscale")}
    assert set(sidecars) == {
        "forgejo-tailscale",
        "registry-tailscale",
        "mcp-tailscale",
        "analytics-tailscale",
    }
    for name, sidecar in sidecars.items():
        assert sidecar.network_mode == f"container:{name.removesuffix('-tailscale')}"
