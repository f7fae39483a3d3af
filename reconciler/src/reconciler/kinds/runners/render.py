"""Pure renderers for a runner: identity, config.yml, `.runner`, start script, exec commands.

The offline shared-secret flow of forgejo-runner splits a runner's 40-hex secret: the first
16 characters identify the runner (its UUID is `uuid.UUID(bytes=secret[:16].encode())`) and the
last 24 authenticate it. Here the 16 are derived from the runner's name (public, so compile can
write the UUID into `.runner` or `server.connections` without any secret) and the 24 are a
DerivedSecret of the pool's base secret. The runner's start script splices those 24 characters
(a secret file) into the rendered template at start, so no secret is in any file's content,
label or hash, and the template's content still decides when the runner is recreated.
"""

from __future__ import annotations

import hashlib
import io
import json
import shlex
import uuid
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML

from reconciler.kinds.forgejo.runner_markers import MARKER_DIR, REVOKE_MARKER

from .model import RunnerPool, parse_label

__all__ = [
    "CONFIG_DIR",
    "MARKER_DIR",
    "TOKEN_PLACEHOLDER",
    "RunnerIdentity",
    "identity",
    "prune_command",
    "prune_probe",
    "register_command",
    "register_probe",
    "render_config",
    "render_dot_runner",
    "render_start_script",
]

CONFIG_DIR = "/etc/forgejo-runner"  # rendered files (FileSpec), read-only for the runner
DATA_DIR = "/data"  # the runner image's HOME, WORKDIR and VOLUME
TOKEN_PLACEHOLDER = "@RUNNER_SECRET_TAIL@"  # noqa: S105 (a placeholder, not a secret)


@dataclass(frozen=True)
class RunnerIdentity:
    """What identifies one runner; `tail_secret` is the *name* of its derived secret."""

    name: str
    secret_prefix: str  # 16 hex chars, public
    uuid: str
    tail_secret: str


def identity(pool: RunnerPool, runner: str, forgejo: str) -> RunnerIdentity:
    prefix = hashlib.sha256(f"forgejo-runner:{forgejo}:{runner}".encode()).hexdigest()[:16]
    return RunnerIdentity(
        name=runner,
        secret_prefix=prefix,
        uuid=str(uuid.UUID(bytes=prefix.encode())),
        tail_secret=f"{runner}-runner-secret",
    )


def _labels(pool: RunnerPool) -> list[str]:
    return list(pool.labels)


def label_names(pool: RunnerPool) -> list[str]:
    return [parse_label(label)[0] for label in pool.labels]


def _yaml(data: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def render_config(
    pool: RunnerPool,
    who: RunnerIdentity,
    *,
    network: str,
    instance_url: str,
    connections: bool,
    docker_host: str,
    cache_host: str,
    job_envs: dict[str, str] | None = None,
    job_options: str = "",
    valid_volumes: list[str] | None = None,
) -> str:
    """The runner's config.yml (reference: internal/pkg/config/config.example.yaml).

    `connections` (Forgejo 15+) declares the server in the file, with the token placeholder
    that the start script replaces; otherwise the runner reads `.runner`.
    """
    envs = {
        "GITOPS_RUNNER_NAME": who.name,
        **dict(sorted((job_envs or {}).items())),
        **dict(sorted(pool.envs.items())),
    }
    options = " ".join(part for part in (job_options, pool.container_options) if part)
    config: dict[str, Any] = {
        "log": {"level": "info", "job_level": "info"},
        "runner": {
            "file": f"{DATA_DIR}/.runner",
            "capacity": pool.capacity,
            "envs": envs,
            "timeout": pool.timeout,
            "shutdown_timeout": pool.shutdown_timeout,
            "insecure": False,
            "fetch_timeout": pool.fetch_timeout,
            "fetch_interval": pool.fetch_interval,
            "labels": _labels(pool),
        },
        "cache": {
            "enabled": pool.cache.enabled,
            "dir": f"{DATA_DIR}/.cache/actcache",
            "host": cache_host,
            "port": pool.cache.port,
            "proxy_port": pool.cache.proxy_port,
        },
        "container": {
            "network": network,
            "enable_ipv6": False,
            "privileged": False,
            "options": options,
            "valid_volumes": list(valid_volumes or []),
            "force_pull": False,
            "docker_host": docker_host,
        },
        "host": {"workdir_parent": f"{DATA_DIR}/.cache/act"},
    }
    if connections:
        config["server"] = {
            "connections": {
                "forgejo": {
                    "url": instance_url,
                    "uuid": who.uuid,
                    "token": who.secret_prefix + TOKEN_PLACEHOLDER,
                }
            }
        }
    return _yaml(config)


def render_dot_runner(pool: RunnerPool, who: RunnerIdentity, instance_url: str) -> str:
    """The `.runner` JSON a `register`/`create-runner-file` would write (Forgejo ≤ 14)."""
    data = {
        "WARNING": "Written by gitops at every start of this runner; do not edit.",
        "id": 0,
        "uuid": who.uuid,
        "name": who.name,
        "token": who.secret_prefix + TOKEN_PLACEHOLDER,
        "address": instance_url,
        "labels": _labels(pool),
    }
    return json.dumps(data, indent=2) + "\n"


def render_start_script(*, template: str, target: str, config: str, secret_file: str) -> str:
    """POSIX sh: splice the secret tail into the template, then run the daemon.

    The daemon exits while the server-side registration does not exist yet (it is a
    bootstrap step in the Forgejo container that may run after this container starts), so
    the script retries for a while, as the runner's own compose example loops on --connect.
    """
    q = shlex.quote
    return f"""#!/bin/sh
# Written by gitops: credentials from {secret_file}, then `forgejo-runner daemon`.
set -eu
umask 077
tail_secret="$(cat {q(secret_file)})"
case "$tail_secret" in
  *[!0-9a-f]* | "") echo "gitops: {secret_file} is not lower-case hex" >&2; exit 1 ;;
esac
sed "s/{TOKEN_PLACEHOLDER}/$tail_secret/" {q(template)} > {q(target)}
unset tail_secret
# This shell is PID 1: pass SIGTERM on, so `docker stop` lets the runner finish gracefully.
child=""
trap 'if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi; exit 0' TERM INT
attempt=0
while :; do
  forgejo-runner daemon --config {q(config)} &
  child=$!
  if wait "$child"; then exit 0; fi
  child=""
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 100 ]; then echo "gitops: the runner kept failing, giving up" >&2; exit 1; fi
  echo "gitops: runner exited; retrying in 3s (registration may be pending)" >&2
  sleep 3
done
"""


def _state(pool: RunnerPool, who: RunnerIdentity, forgejo: str) -> str:
    """Hash of what registration depends on besides the secret (changes re-register)."""
    data = {"uuid": who.uuid, "name": who.name, "labels": label_names(pool), "scope": pool.scope}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


_SECRET_DIGEST = 'printf %s "$0$RUNNER_SECRET_TAIL" | sha256sum | cut -c1-16'  # noqa: S105


def register_command(pool: RunnerPool, who: RunnerIdentity, forgejo: str) -> tuple[str, ...]:
    """`forgejo-cli actions register` in the Forgejo container (idempotent per secret), then
    a marker in Forgejo's data volume recording what was registered (for the probe/prune).

    The secret goes through stdin (`--secret-stdin`), never argv."""
    scope = "" if pool.scope == "instance" else ' --scope "$3"'
    script = (
        'printf %s "$0$RUNNER_SECRET_TAIL" | forgejo forgejo-cli actions register '
        f'--secret-stdin --name "$1" --labels "$2"{scope} --keep-labels >/dev/null && '
        f'mkdir -p "{MARKER_DIR}/$4" && '
        f'printf "%s-%s\\n%s\\n%s\\n" "$5" "$({_SECRET_DIGEST})" "$0" "$3" '
        f'> "{MARKER_DIR}/$4/$1"'
    )
    return (
        "sh",
        "-c",
        script,
        who.secret_prefix,
        who.name,
        ",".join(label_names(pool)),
        pool.scope,
        pool.name,
        _state(pool, who, forgejo),
    )


def register_probe(pool: RunnerPool, who: RunnerIdentity, forgejo: str) -> tuple[str, ...]:
    """Exit 0 when this registration (labels, scope, and the secret when known) was done.

    observe runs probes without the step's env (no secrets there), so without
    RUNNER_SECRET_TAIL only the secret-free part is compared; the executor's probe right
    before the command has it and also compares the secret's digest, so a rotated secret
    (which recreates the runner, a trigger of this step) is registered again."""
    script = (
        f'state="$(head -n 1 "{MARKER_DIR}/$2/$1" 2>/dev/null)"; '
        'if [ -n "${RUNNER_SECRET_TAIL:-}" ]; then '
        f'test "$state" = "$3-$({_SECRET_DIGEST})"; '
        'else case "$state" in "$3-"*) exit 0 ;; *) exit 1 ;; esac; fi'
    )
    return ("sh", "-c", script, who.secret_prefix, who.name, pool.name, _state(pool, who, forgejo))


def prune_probe(pool: RunnerPool) -> tuple[str, ...]:
    """Exit 0 when no runner of this pool is registered that the pool no longer declares."""
    script = (
        f'cd "{MARKER_DIR}/$0" 2>/dev/null || exit 0; '
        'for f in *; do [ -e "$f" ] || continue; keep=no; '
        'for n in "$@"; do [ "$f" = "$n" ] && keep=yes; done; '
        '[ "$keep" = yes ] || exit 1; done'
    )
    return ("sh", "-c", script, pool.name, *pool.runner_names())


def prune_command(pool: RunnerPool) -> tuple[str, ...]:
    """Revoke runners removed from the pool (runner_markers.REVOKE_MARKER: same UUID and
    scope, a random secret tail, so its old token stops working) and drop their markers."""
    script = (
        f'cd "{MARKER_DIR}/$0" 2>/dev/null || exit 0; '
        'for f in *; do [ -e "$f" ] || continue; keep=no; '
        'for n in "$@"; do [ "$f" = "$n" ] && keep=yes; done; [ "$keep" = yes ] && continue; '
        f"{REVOKE_MARKER}; "
        "done"
    )
    return ("sh", "-c", script, pool.name, *pool.runner_names())
