"""The Docker provider's factory (listed in `reconciler.builtin.PROVIDERS`): the provider is
built on the run's one Docker client, never a client of its own."""

from __future__ import annotations

from reconciler.providers import ProviderSetup
from reconciler.providers.docker import DockerProvider

__all__ = ["build_docker_provider"]


def build_docker_provider(setup: ProviderSetup) -> DockerProvider:
    return DockerProvider(
        setup.docker_client, setup.secrets, socket_gid=setup.stack.docker.socket_gid
    )
