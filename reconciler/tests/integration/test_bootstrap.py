"""Bootstrap steps on the real engine, driven through the engine's API (as a kind such as
Forgejo would compile them): run after the container is healthy, skipped when the probe
says done, a captured secret stored 0600 and never printed, a failing step stops apply."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from reconciler.actions import Plan
from reconciler.apply import ApplyResult, execute_plan
from reconciler.planner import SecretsProvider, build_plan
from reconciler.providers.base import ExecContext, PlanContext
from reconciler.providers.docker import DockerProvider
from reconciler.resources import (
    BootstrapStep,
    ContainerSpec,
    DesiredState,
    GeneratedSecret,
    Healthcheck,
    NetworkSpec,
    ProvidedSecret,
    SecretRef,
    SecretRequirement,
)
from reconciler.secrets import SecretStore
from reconciler.source import SourceLocation

from .conftest import cleanup_project

pytestmark = pytest.mark.docker

HERE = SourceLocation(file="gitops/test.yaml", line=1, column=1)
MARKER = "/tmp/admin-created"


def desired(project: str, image: str, *, fail: bool = False) -> DesiredState:
    app = ContainerSpec(
        name="app",
        image=image,
        networks=("net",),
        healthcheck=Healthcheck(
            test=("CMD", "python3", "-c", "print('ok')"), interval_s=0.5, retries=2
        ),
        owner="Test/app",
        source=HERE,
    )
    create_admin = BootstrapStep(
        id="app:admin",
        container="app",
        command=("sh", "-c", f'test -n "$ADMIN_PASSWORD" && touch {MARKER}'),
        probe=("test", "-f", MARKER),
        env={"ADMIN_PASSWORD": SecretRef(secret="admin-password")},
        description="create the admin user",
        owner="Test/app",
        source=HERE,
    )
    mint_token = BootstrapStep(
        id="app:token",
        container="app",
        # a CLI warning on stderr must not end up in the captured value
        command=(
            "sh",
            "-c",
            "echo warning: config is old >&2; echo tok-$(hostname)-0123456789; exit "
            + ("7" if fail else "0"),
        ),
        probe=("test", "-f", "/tmp/never"),
        capture_secret="automation-token",
        after=("app:admin",),
        description="mint an automation token",
        owner="Test/app",
        source=HERE,
    )
    return DesiredState(
        project=project,
        networks=(NetworkSpec(name="net", source=HERE),),
        containers=(app,),
        bootstrap=(create_admin, mint_token),
        secrets=(
            SecretRequirement(
                name="admin-password", needed_by=("Test/app",), generate=GeneratedSecret()
            ),
            SecretRequirement(
                name="automation-token",
                needed_by=("Test/app",),
                generate=ProvidedSecret(by="bootstrap:app:token"),
            ),
        ),
    )


class Engine:
    def __init__(self, client: docker.DockerClient, root: Path, state: DesiredState) -> None:
        self.client = client
        self.root = root
        self.state = state

    def plan(self) -> tuple[Plan, dict, SecretStore]:
        store = SecretStore(
            self.state.project,
            self.state.secrets,
            environ={},
            env_file=self.root / ".env",
            secrets_dir=self.root / ".secrets",
        )
        providers = {
            "secrets": SecretsProvider(store),
            "docker": DockerProvider(self.client, store),
        }
        ctx = PlanContext(
            desired=self.state, secrets=store, secrets_to_generate=frozenset(store.to_generate)
        )
        return build_plan(self.state, providers, ctx), providers, store

    def apply(self) -> tuple[Plan, ApplyResult, list[str]]:
        plan, providers, store = self.plan()
        messages: list[str] = []
        ctx = ExecContext(desired=self.state, secrets=store, progress=messages.append)
        return plan, execute_plan(plan, providers, ctx), messages


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory, test_image: str, docker_client: docker.DockerClient
) -> Iterator[Engine]:
    import uuid

    project = f"coretest-boot-{uuid.uuid4().hex[:6]}"
    yield Engine(docker_client, tmp_path_factory.mktemp("boot"), desired(project, test_image))
    cleanup_project(docker_client, project)


def test_steps_run_in_order_after_health_and_capture_a_secret(engine: Engine) -> None:
    plan, result, messages = engine.apply()
    ids = [a.id for a in plan.actions]
    assert ids.index("docker:container:app") < ids.index("docker:bootstrap:app:admin")
    assert ids.index("docker:bootstrap:app:admin") < ids.index("docker:bootstrap:app:token")
    assert result.ok, result.failed
    token_file = engine.root / ".secrets" / "automation-token"
    token = token_file.read_text().strip()
    assert token.startswith("tok-")
    assert token.endswith("0123456789")
    assert "warning" not in token  # stdout only
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert all(token not in m for m in messages)
    assert all(token not in str(a) for a in plan.actions)


def test_probe_that_passes_means_no_step(engine: Engine) -> None:
    plan, _, _ = engine.plan()
    assert [a.id for a in plan.actions] == ["docker:bootstrap:app:token"], (
        "the admin step's probe passes; the token step's probe never does"
    )


def test_failing_capture_step_stops_apply_without_showing_output(engine: Engine) -> None:
    engine.state = desired(engine.state.project, engine.state.containers[0].image, fail=True)
    _, result, _ = engine.apply()
    assert result.failed is not None
    assert "exited with code 7" in result.failed.reason
    assert result.failed.details == ("output hidden: this step produces a secret",)
