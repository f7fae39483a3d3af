"""A generatable secret that is missing here but that running containers were created with
stops the plan (CI without the repository secret must not rotate Forgejo's SECRET_KEY),
directly or through a secret derived from it; `--regenerate-secret` lifts it on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest
from reconciler.errors import PlanError
from reconciler.providers.base import PlanContext
from reconciler.providers.docker.plan import plan_docker
from reconciler.resources import (
    DerivedSecret,
    DesiredState,
    GeneratedSecret,
    SecretFile,
    SecretRef,
    SecretRequirement,
)
from reconciler.secrets import SecretStore

from .helpers import applied, desired_state, observed, spec

KEY = SecretRequirement(
    name="forgejo-secret-key",
    needed_by=("Forgejo/forgejo",),
    generate=GeneratedSecret(length=64, alphabet="alnum"),
    help="the key Forgejo encrypts 2FA secrets and tokens with",
)
BASE = SecretRequirement(
    name="runner-registration-secret",
    needed_by=("RunnerPool/factory",),
    generate=GeneratedSecret(length=64, alphabet="hex"),
)
TAIL = SecretRequirement(
    name="runner-1-runner-secret",
    needed_by=("RunnerPool/factory",),
    generate=DerivedSecret(from_secret="runner-registration-secret", context="r1", length=24),
)
FORGEJO = spec("forgejo", env={"FORGEJO__security__SECRET_KEY": SecretRef(secret=KEY.name)})
RUNNER = spec("runner-1", secret_files=(SecretFile(secret=TAIL.name, target="/run/secrets/tail"),))


def secrets_at(directory: Path, values: dict[str, str] | None = None) -> SecretStore:
    directory.mkdir(exist_ok=True)
    for name, value in (values or {}).items():
        (directory / name).write_text(value + "\n")
    return SecretStore(
        "demo",
        (KEY, BASE, TAIL),
        environ={},
        env_file=directory / ".env",
        secrets_dir=directory,
    )


def desired() -> DesiredState:
    return desired_state(FORGEJO, RUNNER).model_copy(update={"secrets": (KEY, BASE, TAIL)})


def plan(store: SecretStore, running: tuple, **extra: object) -> list:
    ctx = PlanContext(
        desired=desired(),
        secrets=store,
        secrets_to_generate=frozenset(store.to_generate),
        **extra,  # type: ignore[arg-type]
    )
    actions, _notes = plan_docker(observed(*running), ctx)
    return actions


def deployed(tmp_path: Path) -> tuple:
    """The containers a first apply left, with the secrets that apply generated."""
    first = secrets_at(tmp_path / "first")
    assert sorted(first.to_generate) == ["forgejo-secret-key", "runner-registration-secret"]
    return applied(FORGEJO, first), applied(RUNNER, first)


def test_a_fresh_machine_generates_every_missing_secret(tmp_path: Path) -> None:
    store = secrets_at(tmp_path / "fresh")
    verbs = {a.id: a.verb for a in plan(store, ())}
    assert verbs["docker:container:forgejo"] == "create"


def test_missing_secret_a_running_container_uses_stops_the_plan(tmp_path: Path) -> None:
    running = deployed(tmp_path)
    ci_job = secrets_at(tmp_path / "ci")  # a job workspace: nothing in .secrets/
    with pytest.raises(PlanError) as error:
        plan(ci_job, running)
    message = str(error.value)
    assert "secret 'forgejo-secret-key'" in message
    assert "2FA secrets" in message  # the requirement's help says what is at stake
    assert "forgejo already run" in message
    # the base of the runner's derived secret: the runner uses what is made from it
    assert "secret 'runner-registration-secret' is not set here, but runner-1" in message
    assert "--regenerate-secret NAME" in message


def test_providing_the_values_plans_nothing(tmp_path: Path) -> None:
    first = secrets_at(tmp_path / "first")
    running = (applied(FORGEJO, first), applied(RUNNER, first))
    values = {name: first.get(name) or "" for name in first.to_generate}
    again = secrets_at(tmp_path / "again", values)
    assert again.to_generate == []
    assert plan(again, running) == []


def test_regenerate_secret_rotates_on_purpose_and_recreates_its_users(tmp_path: Path) -> None:
    running = deployed(tmp_path)
    store = secrets_at(tmp_path / "ci")
    with pytest.raises(PlanError, match="runner-registration-secret"):
        plan(store, running, regenerate_secrets=frozenset({"forgejo-secret-key"}))
    actions = plan(
        store,
        running,
        regenerate_secrets=frozenset({"forgejo-secret-key", "runner-registration-secret"}),
    )
    recreated = sorted(a.resource for a in actions if a.verb == "recreate")
    assert recreated == ["service forgejo", "service runner-1"]
