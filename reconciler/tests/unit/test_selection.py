"""`--only` on the shipped stack, without an engine: document names select every container
of the document, a missing dependency is refused with the selection that works, and
only the selected services' secrets, volumes and bootstrap steps remain (nothing is
generated or created for what is left out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from reconciler.errors import PlanError
from reconciler.project import load_project
from reconciler.selection import select, without_images

GITOPS = Path(__file__).resolve().parents[3] / "gitops"


@pytest.fixture(scope="module")
def desired():
    return load_project(GITOPS).desired


def test_analytics_and_mcp_alone(desired) -> None:
    chosen = select(desired, ["analytics", "mcp"])
    assert {c.name for c in chosen.desired.containers} == {"analytics", "mcp"}
    assert {s.name for s in chosen.desired.secrets} == {"analytics_token", "mcp_auth_token"}
    assert {v.name for v in chosen.desired.volumes} == {"analytics-data"}
    assert chosen.desired.bootstrap == ()
    assert chosen.left_out_containers == ("engine-1", "forgejo", "registry", "runner-1")
    assert {"forgejo-data", "registry-data"} <= chosen.left_out


def test_a_document_name_selects_its_containers(desired) -> None:
    chosen = select(desired, ["forgejo", "deploy"])
    assert {c.name for c in chosen.desired.containers} == {"forgejo", "engine-1"}
    assert all(s.container in {"forgejo", "engine-1"} for s in chosen.desired.bootstrap)
    assert chosen.desired.bootstrap


@pytest.mark.parametrize(
    ("only", "fix"),
    [(["mcp"], "--only mcp,analytics"), (["runner-1"], "--only runner-1,forgejo")],
)
def test_a_missing_dependency_is_refused_with_the_fix(desired, only, fix) -> None:
    with pytest.raises(PlanError, match="leaves out what it depends on") as refused:
        select(desired, only)
    assert fix in str(refused.value)


def test_unknown_names_list_what_exists(desired) -> None:
    with pytest.raises(PlanError, match=r"unknown name\(s\) mpc;.*mcp"):
        select(desired, ["mpc"])


def test_without_unpullable_upstream_images_analytics_and_mcp_run(desired) -> None:
    upstream = {c.image for c in desired.containers if c.name in ("forgejo", "registry")}
    upstream |= {c.image for c in desired.containers if c.owner.startswith("RunnerPool/")}
    left, runnable = without_images(desired, upstream)
    assert runnable == ["analytics", "mcp"]
    assert left == ["engine-1", "forgejo", "registry", "runner-1"]
    select(desired, runnable)  # the printed selection is itself valid
