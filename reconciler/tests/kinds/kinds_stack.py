"""A throw-away gitops/ directory driven through the real `gitops` CLI, and its cleanup.

Each test stack has its own project name, so everything it creates carries that project's
labels and the cleanup removes exactly those objects (containers, networks, volumes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

PROJECT_LABEL = "dev.chocolate-factory.gitops.project"


@dataclass
class GitopsStack:
    root: Path
    project: str = field(default_factory=lambda: f"kinds-{uuid.uuid4().hex[:8]}")

    @property
    def gitops(self) -> Path:
        return self.root / "gitops"

    @property
    def secrets(self) -> Path:
        return self.root / ".secrets"

    def write_stack(self) -> None:
        self.gitops.mkdir(parents=True, exist_ok=True)
        (self.gitops / "stack.yaml").write_text(
            f"kind: Stack\nproject: {self.project}\nnetwork: factory\n"
            "secrets:\n  dir: ../.secrets\n  env_file: ../.env\n"
        )

    def write(self, relative: str, text: str) -> Path:
        path = self.gitops / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def secret(self, name: str) -> str:
        return (self.secrets / name).read_text().strip()

    def gitops_cli(
        self, *args: str, env: dict[str, str] | None = None, check: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "reconciler", "--dir", str(self.gitops), *args]
        environ = {k: v for k, v in os.environ.items() if k != "GITOPS_RUNNER_NAME"}
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**environ, **(env or {})},
            timeout=600,
            check=False,
        )
        if check is not None and result.returncode != check:
            raise AssertionError(
                f"gitops {' '.join(args)} exited {result.returncode}, expected {check}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def apply(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.gitops_cli("apply", "--yes", *args, env=env, check=0)

    def plan_json(self, env: dict[str, str] | None = None) -> dict[str, Any]:
        result = self.gitops_cli("plan", "--json", env=env)
        assert result.returncode in (0, 2), result.stderr
        return json.loads(result.stdout)

    def container(self, client: docker.DockerClient, name: str):
        return client.containers.get(f"{self.project}-{name}")

    def cleanup(self, client: docker.DockerClient) -> None:
        selector = {"label": [f"{PROJECT_LABEL}={self.project}"]}
        for container in client.containers.list(all=True, filters=selector):
            container.remove(force=True, v=True)  # v: the image's unmounted VOLUMEs too
        for network in client.networks.list(filters=selector):
            network.remove()
        for volume in client.volumes.list(filters=selector):
            volume.remove(force=True)


def docker_health(container, want: str = "healthy", timeout: float = 60.0) -> str:
    """Docker's own health status, once it says `want` (or whatever it says at timeout).

    gitops' health gate may pass before Docker's first probe (it runs the check itself), so
    right after an apply Docker can still say `starting`; it agrees at its next probe."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status", "none")
        if status == want or time.monotonic() > deadline:
            return status
        time.sleep(0.5)
