"""A newcomer's first run (issue 11): a fresh container from the offline base, the host's
engine through its socket, this repository copied in, and only what README.md says:
`just setup` (there: `bash .ci/provision`, since `just` is not installed yet), `just deploy`
(the offline variables of the README, since python:3.12-slim cannot be pulled here), the
`--only` command that deploy prints when Forgejo, the runners and registry:2.8 cannot be
pulled, then `just test`; mcp and analytics must be serving at the end.

Cost, and what the inner `just test` runs: the whole suite again would double CI's time,
so the container runs it with FACTORY_E2E_NESTED=1, which skips the tests marked `slow`
(this one, the act workflow and build/push e2e tests: conftest.py) and `-m "not docker"`
in PYTEST_ADDOPTS
(everything that needs an engine ran on the host already in the same CI job); the point
here is that a machine set up by `just setup` runs `just test` green, not to repeat it.

Own project name and ports (the copy's stack.yaml and services are edited, as
stack_scratch does), so nothing collides with the stack or other tests on the shared
engine; everything is removed afterwards by the project's and this test's labels.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from e2e_support import BASE_IMAGE, PIPELINE_LABEL, copy_worktree, git
from stack_scratch import GUARD_PROJECT_LABEL, PROJECT_LABEL

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

PROJECT = "newcomer"
PORTS = {"mcp": 20871, "analytics": 20872}
OFFLINE = "FACTORY_BASE_IMAGE=chocolate-factory/base:bookworm FACTORY_WHEELHOUSE=1"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "NODE_EXTRA_CA_CERTS",
                "CURL_CA_BUNDLE", "GIT_SSL_CAINFO")  # fmt: skip


def _own_ports_and_project(repo: Path) -> None:
    """Text edits, not a YAML round trip: the copy must stay formatted as shipped (the
    suite run inside edits those files by pattern, test_shipped_examples.py)."""
    edits = {
        "stack.yaml": ("\nproject: chocolate-factory\n", f"\nproject: {PROJECT}\n"),
        "services/mcp.yaml": ("127.0.0.1:8100:8000", f"127.0.0.1:{PORTS['mcp']}:8000"),
        "services/analytics.yaml": (
            "127.0.0.1:8101:8000",
            f"127.0.0.1:{PORTS['analytics']}:8000",
        ),
    }
    for relative, (old, new) in edits.items():
        path = repo / "gitops" / relative
        text = path.read_text()
        assert text.count(old) == 1, f"{relative}: {old!r} not found once"
        path.write_text(text.replace(old, new))
    git(repo, "commit", "-q", "-am", "newcomer test: own project name and ports")


def _cleanup(client: docker.DockerClient, name: str, sha: str | None) -> None:
    for label in (f"{PROJECT_LABEL}={PROJECT}", f"{GUARD_PROJECT_LABEL}={PROJECT}"):
        for container in client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True, v=True)
    selector = {"label": f"{PROJECT_LABEL}={PROJECT}"}
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)
    for network in client.networks.list(filters=selector):
        network.remove()
    for container in client.containers.list(all=True, filters={"label": PIPELINE_LABEL}):
        if container.name == name:
            container.remove(force=True, v=True)
    for image in client.images.list():
        if sha and any(sha[:12] in tag for tag in image.tags):
            client.images.remove(image.id, force=True)


@pytest.fixture
def newcomer(engine: docker.DockerClient, tmp_path: Path) -> Iterator[tuple[str, str]]:
    repo = copy_worktree(tmp_path / "repo")
    _own_ports_and_project(repo)
    sha = git(repo, "rev-parse", "HEAD")
    name = f"pipe2e-newcomer-{uuid.uuid4().hex[:6]}"
    # the repository and the CA are copied in, not bind-mounted: this test may itself run in
    # a CI job container, whose paths the engine's host does not have
    env = []
    if HOST_CA.is_file():  # the base trusts the host's CA only when it has it
        # and the tools that do not read the system store (uv, node) are told where it is,
        # as they are on the host
        env = [f"--env={var}" for var in CA_VARIABLES if os.environ.get(var) == str(HOST_CA)]
    subprocess.run(
        ["docker", "create", "--name", name, "--label", f"{PIPELINE_LABEL}=newcomer",
         "--network", "host", "-v", "/var/run/docker.sock:/var/run/docker.sock", *env,
         "-w", "/repo", BASE_IMAGE, "sleep", "infinity"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        subprocess.run(["docker", "cp", f"{repo}/.", f"{name}:/repo"], check=True)
        if HOST_CA.is_file():
            # also where update-ca-certificates looks, should an install regenerate the bundle
            for target in (HOST_CA, "/usr/local/share/ca-certificates/host-bundle.crt"):
                subprocess.run(["docker", "cp", "-L", str(HOST_CA), f"{name}:{target}"], check=True)
        subprocess.run(["docker", "start", name], check=True, capture_output=True)
        # cloned by the machine's user (root here), as a newcomer's checkout would be
        subprocess.run(["docker", "exec", name, "chown", "-R", "0:0", "/repo"], check=True)
        yield name, sha
    finally:
        _cleanup(engine, name, sha)


def inside(name: str, script: str, timeout: float) -> tuple[int, str, float]:
    began = time.monotonic()
    done = subprocess.run(
        ["docker", "exec", "-e", "FACTORY_E2E_NESTED=1", name, "bash", "-lc", script],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr, time.monotonic() - began


def test_fresh_machine_setup_deploy_test_following_the_readme(
    newcomer: tuple[str, str], engine: docker.DockerClient
) -> None:
    if os.environ.get("FACTORY_E2E_NESTED"):
        pytest.skip("already inside the newcomer container")
    name, _ = newcomer
    times = {}
    code, out, times["setup"] = inside(name, "bash .ci/provision && just setup", 900)
    assert code == 0, out[-4000:]

    code, out, times["deploy"] = inside(name, f"{OFFLINE} just deploy", 900)
    assert code == 1, out[-4000:]
    match = re.search(r"just deploy --only (\S+)", out)
    assert match, out[-4000:]
    assert match.group(1) == "analytics,mcp"
    code, out, times["deploy --only"] = inside(name, f"{OFFLINE} {match.group(0)}", 600)
    assert code == 0, out[-4000:]

    nested = """PYTEST_ADDOPTS='-q -x -m "not docker"' just test"""
    code, out, times["test"] = inside(name, nested, 900)
    assert code == 0, out[-4000:]
    assert "no leaked volumes" in out

    for service, port in PORTS.items():
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert response.status_code == 200, service
    print("newcomer timings (s):", {k: round(v) for k, v in times.items()})
