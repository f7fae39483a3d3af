"""What one plan/apply/drift run reconciles: the declared state with this machine's image
overrides (`--image`, then gitops/.local/overrides.yaml) and its selection (`--only`, then
the file), plus the notes the plan shows so nobody wonders which references are in force.

Why one place: plan, apply and drift must agree exactly, or a drift check would report
the overrides a deploy used as drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.local_settings import load_local
from reconciler.planner import with_image_overrides
from reconciler.project import Project
from reconciler.resources import DesiredState
from reconciler.selection import parse_only, select

__all__ = ["RunScope", "run_scope"]


@dataclass(frozen=True)
class RunScope:
    desired: DesiredState
    images: dict[str, str]  # service -> reference in force (command line over file)
    left_out: frozenset[str]
    notes: tuple[str, ...]


def run_scope(project: Project, cli_images: dict[str, str], cli_only: Sequence[str]) -> RunScope:
    local = load_local(project.gitops_dir, project.desired)
    images = {**local.images, **cli_images}
    notes = [
        f"image override: {svc}={ref} ("
        + ("--image" if svc in cli_images else local.image_lines[svc])
        + ")"
        for svc, ref in sorted(images.items())
    ]
    desired = with_image_overrides(project.desired, images)
    only = parse_only(cli_only)
    origin = "--only"
    if not only and local.only:
        only, origin = local.only, local.only_line
    selection = select(desired, only, origin)
    left = selection.left_out_containers
    if left:
        notes.append(f"left out by {origin} (not touched; not orphans): {', '.join(left)}")
    return RunScope(
        desired=selection.desired, images=images, left_out=selection.left_out, notes=tuple(notes)
    )
