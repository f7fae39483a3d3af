"""The Docker provider: observe (observe.py), plan (plan.py), execute (execute.py).

The docker SDK client is injected (built by client.make_client in the CLI), so tests and
embedders can point it anywhere; DOCKER_HOST is honoured by that factory.
"""

from __future__ import annotations

from typing import Any

import docker
import docker.errors
import requests.exceptions

from reconciler.actions import Action
from reconciler.providers.base import ExecContext, PlanContext, Planned
from reconciler.providers.docker.client import unreachable
from reconciler.providers.docker.execute import DockerExecutor
from reconciler.providers.docker.observe import DockerObserved, observe
from reconciler.providers.docker.plan import plan_docker
from reconciler.resources import DesiredState
from reconciler.secrets import SecretStore

__all__ = ["DockerProvider"]


class DockerProvider:
    name = "docker"

    def __init__(
        self, client: docker.DockerClient, secrets: SecretStore, socket_gid: int | None = None
    ) -> None:
        self.client = client
        self.socket_gid = socket_gid  # stack.yaml docker.socket_gid (see socket_group.py)
        self.executor = DockerExecutor(client, secrets)

    def observe(self, desired: DesiredState) -> DockerObserved:
        try:
            return observe(self.client, desired, self.socket_gid)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise unreachable(str(self.client.api.base_url), exc) from exc

    def plan(self, observed: Any, ctx: PlanContext) -> Planned:
        return Planned(*plan_docker(observed, ctx))

    def execute(self, action: Action, ctx: ExecContext) -> None:
        self.executor.execute(action, ctx)
