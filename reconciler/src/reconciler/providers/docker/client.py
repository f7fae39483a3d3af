"""Building the docker SDK client, and translating its exceptions (the only place).

The client is created in `make_client` (never at import time) and injected everywhere else,
so tests can pass their own. DOCKER_HOST (and DOCKER_TLS_VERIFY/DOCKER_CERT_PATH) are
honoured; `--docker-host` / stack.yaml's `docker.host` come next.
"""

from __future__ import annotations

from collections.abc import Mapping

import docker
import docker.errors
import requests.exceptions

from reconciler.errors import ObservationError

__all__ = ["make_client", "unreachable"]


def make_client(host: str | None, environ: Mapping[str, str]) -> docker.DockerClient:
    """DOCKER_HOST wins over the stack's endpoint; else the local socket."""
    env = dict(environ)
    if host and not env.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = host
    try:
        client = docker.from_env(environment=env, timeout=120)
        client.api.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise unreachable(env.get("DOCKER_HOST") or "the local Docker socket", exc) from exc
    return client


def unreachable(where: str, exc: Exception) -> ObservationError:
    return ObservationError(
        f"cannot reach the Docker engine at {where}: {exc.__class__.__name__}: {exc}. "
        "Is dockerd running, and may this user use its socket? (set DOCKER_HOST to use "
        "another engine)"
    )
