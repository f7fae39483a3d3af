"""Building the docker SDK client, and translating its exceptions (the only place).

The client is created in `make_client` (never at import time) and injected everywhere else,
so tests can pass their own. `--docker-host` comes first,
then DOCKER_HOST (and DOCKER_TLS_VERIFY/DOCKER_CERT_PATH), then stack.yaml's `docker.host`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from reconciler.errors import ObservationError

__all__ = ["make_client", "unreachable"]


def make_client(
    host: str | None, environ: Mapping[str, str], *, override: str | None = None
) -> docker.DockerClient:
    """The one engine: `override` (--docker-host) if given, else DOCKER_HOST, else the
    stack's endpoint `host`, else the local socket. The CLI builds it once and hands it to
    every provider, so they all read and change the same engine."""
    env = dict(environ)
    if override:
        env["DOCKER_HOST"] = override
    elif host and not env.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = host
    where = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if where.startswith("unix://") and not Path(where.removeprefix("unix://")).exists():
        # said plainly (and docker-py would leave the socket of the failed connect open)
        missing = FileNotFoundError(f"no socket at {where.removeprefix('unix://')}")
        raise unreachable(env.get("DOCKER_HOST") or "the local Docker socket", missing)
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
