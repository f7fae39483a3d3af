"""The deploy and drift workflows hand the stack the same secrets.

Each workflow names the stack's secrets on the one step that needs them. That list is
written twice (deploy.yml, drift.yml) on purpose: the one-copy forms give every step the
whole secrets context (`${{ toJSON(secrets) }}`, which zizmor's overprovisioned-secrets audit
rightly refuses), a composite action cannot read `secrets`, and YAML anchors do not reach
across files. So this test keeps the two copies equal instead.
"""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML

WORKFLOWS = Path(__file__).resolve().parents[2] / ".forgejo" / "workflows"
SECRET = re.compile(r"^\$\{\{ secrets\.([A-Z0-9_]+) \}\}$")


def _secret_env(workflow: str, step_name: str) -> dict[str, str]:
    doc = YAML(typ="safe").load((WORKFLOWS / workflow).read_text(encoding="utf-8"))
    steps = [s for job in doc["jobs"].values() for s in job["steps"] if s.get("name") == step_name]
    assert len(steps) == 1, f"{workflow}: no single step named {step_name!r}"
    env = steps[0].get("env", {})
    matches = {name: SECRET.match(str(value)) for name, value in env.items()}
    return {name: match.group(1) for name, match in matches.items() if match}


def test_deploy_and_drift_pass_the_same_secrets_under_the_same_names() -> None:
    deploy = _secret_env("deploy.yml", "plan and apply (one deploy at a time, in commit order)")
    drift = _secret_env("drift.yml", "nox -s drift")
    assert deploy == drift
    assert len(deploy) >= 10


def test_forgejo_secrets_are_stored_with_the_factory_prefix() -> None:
    """Forgejo refuses secret names starting with FORGEJO_; every other name is the stack's."""
    for env_name, secret in _secret_env(
        "deploy.yml", "plan and apply (one deploy at a time, in commit order)"
    ).items():
        expected = f"FACTORY_{env_name}" if env_name.startswith("FORGEJO_") else env_name
        assert secret == expected
