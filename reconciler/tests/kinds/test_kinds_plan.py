"""The repository's own gitops/ (Forgejo, two runner pools, the registry) planned on an empty
engine, on plain data: what is created, in which order, and that it is deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest
from reconciler.planner import assemble
from reconciler.project import load_project
from reconciler.providers.base import PlanContext
from reconciler.providers.docker.observe import DockerObserved
from reconciler.providers.docker.plan import plan_docker
from reconciler.providers.docker.socket_group import SocketGroup
from reconciler.secrets import SecretStore

GITOPS = Path(__file__).resolve().parents[3] / "gitops"


@pytest.fixture(scope="module")
def plan_ids(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    project = load_project(GITOPS)
    tmp = tmp_path_factory.mktemp("plan")
    secrets = SecretStore(
        project.desired.project,
        project.desired.secrets,
        environ={},
        env_file=tmp / ".env",
        secrets_dir=tmp / ".secrets",
    )
    ctx = PlanContext(
        desired=project.desired,
        secrets=secrets,
        secrets_to_generate=frozenset(secrets.to_generate),
    )
    # runners and analytics add the socket's group: a local engine whose socket is gid 106
    empty = DockerObserved(socket_group=SocketGroup(106, "group of /var/run/docker.sock"))
    first = assemble(project.desired.project, plan_docker(empty, ctx)[0])
    again = assemble(project.desired.project, plan_docker(empty, ctx)[0])
    assert first == again  # deterministic
    return [action.id for action in first.actions]


def before(ids: list[str], first: str, then: str) -> bool:
    return ids.index(first) < ids.index(then)


def test_everything_is_created_and_bootstrapped(plan_ids: list[str]) -> None:
    for name in ("forgejo", "registry", "runner-1", "engine-1", "mcp", "analytics"):
        assert f"docker:container:{name}" in plan_ids
    for step in (
        "forgejo:backup-dir",
        "forgejo:admin-user",
        "forgejo:automation-token",
        "factory:register:runner-1",
        "deploy:register:engine-1",
        "factory:prune",
        "deploy:prune",
    ):
        assert f"docker:bootstrap:{step}" in plan_ids


def test_order_forgejo_then_its_steps_then_runners(plan_ids: list[str]) -> None:
    forgejo = "docker:container:forgejo"
    admin = "docker:bootstrap:forgejo:admin-user"
    assert before(plan_ids, forgejo, admin)
    assert before(plan_ids, admin, "docker:bootstrap:forgejo:automation-token")
    for pool, runner in (("factory", "runner-1"), ("deploy", "engine-1")):
        assert before(plan_ids, forgejo, f"docker:container:{runner}")
        register = f"docker:bootstrap:{pool}:register:{runner}"
        assert before(plan_ids, forgejo, register)
        assert before(plan_ids, register, f"docker:bootstrap:{pool}:prune")
