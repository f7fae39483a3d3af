"""The whole service as a user runs it: `factory-analytics serve` as a process, reading a real
container's logs, polling the Tailscale test double and probing an endpoint. Killed hard and
started again, it neither loses nor double-counts a request, and presence history keeps
accumulating."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from factory_common_testing.tailscale_double import serve_tailscale_double

from tests.conftest import free_port
from tests.dockerenv import (
    LABEL,
    append_lines,
    docker_client,
    remove,
    start_writer,
    unique_name,
    wait_for_lines,
)

pytestmark = pytest.mark.docker

SCRIPT = Path(sys.executable).parent / "factory-analytics"


def line(i: int) -> str:
    route = ["/dashboard/complete", "/ree/prices/latest", "/health-monitoring/uptime/git"][i % 3]
    return (
        f'100.64.0.1 - - [25/Nov/2026:10:00:{i % 60:02d} +0000] "GET {route} HTTP/1.1" 200 5'
        f' "-" "curl" 0.{i % 10}00 "-"'
    )


class Running:
    def __init__(self, config: Path, port: int, env: dict[str, str], log: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                str(SCRIPT),
                "--config",
                str(config),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str) -> dict:
        return httpx.get(self.base + path, timeout=5).json()

    def wait(self, what: str, check: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited with {self.proc.returncode}")
            try:
                if check():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        self.log.close()
        return code


@pytest.fixture
def tailnet():
    with serve_tailscale_double() as ts:
        ts.api.add_device("chocolate-factory", tags=["tag:server"])
        yield ts


@pytest.fixture
def writer() -> Iterator:
    client = docker_client()
    container = start_writer(
        client, unique_name("analytics-test-service"), [line(i) for i in range(60)]
    )
    try:
        wait_for_lines(container, 60)
        yield container
    finally:
        remove(container)
        client.close()


def test_serve_survives_a_hard_restart_without_losing_or_duplicating(
    tmp_path: Path, tailnet, writer
) -> None:
    if not SCRIPT.exists():
        pytest.fail(f"console script {SCRIPT} missing: pip install -e ./analytics")
    port = free_port()
    config = tmp_path / "analytics.yaml"
    config.write_text(
        f"database: {tmp_path / 'data' / 'analytics.db'}\n"
        "tailnet:\n"
        "  interval_seconds: 1\n"
        f"  api_url: {tailnet.base_url}\n"
        "logs:\n"
        "  - name: writer\n"
        f"    container: {writer.name}\n"
        "    poll_seconds: 0.3\n"
        "probes:\n"
        "  - name: self\n"
        f"    url: http://127.0.0.1:{port}/healthz\n"
        "    interval_seconds: 5\n"
        "system:\n"
        "  interval_seconds: 5\n"
        f"  disk_path: {tmp_path}\n"
        f"  container_label: {LABEL}=analytics\n",
        encoding="utf-8",
    )
    env = {**os.environ, "TAILSCALE_API_KEY": tailnet.api_token, "ANALYTICS_TOKEN": "t0ken"}
    env.pop("ANALYTICS_DB", None)
    log = tmp_path / "service.log"

    def lines_read(svc: Running) -> int:
        (source,) = svc.get("/api/v1/sources")["sources"]
        return source["lines"]

    def samples(svc: Running) -> int:
        return svc.get("/api/v1/devices?hours=1")["devices"][0]["samples"]

    svc = Running(config, port, env, log)
    svc.wait("first 60 lines", lambda: lines_read(svc) == 60)
    svc.wait("two presence polls", lambda: samples(svc) >= 2)
    svc.wait("a probe result", lambda: svc.get("/api/v1/probes")["probes"][0]["checks"] >= 1)
    before = samples(svc)
    assert svc.stop(signal.SIGKILL) == -signal.SIGKILL  # a crash, not a clean shutdown

    append_lines(writer, [line(i) for i in range(60, 90)])  # written while the service is down
    wait_for_lines(writer, 90)

    svc = Running(config, port, env, log)
    svc.wait("30 more lines", lambda: lines_read(svc) == 90)
    time.sleep(1.0)  # several more polls: nothing may be read twice
    assert lines_read(svc) == 90
    endpoints = svc.get("/api/v1/endpoints?days=365")
    by_route = {e["route"]: e["requests"] for e in endpoints["endpoints"]}
    assert by_route == {
        "/dashboard/complete": 30,
        "/ree/prices/latest": 30,
        "/health-monitoring/uptime/{hostname}": 30,
    }
    svc.wait("presence history grows across the restart", lambda: samples(svc) > before)
    system = svc.get("/api/v1/system?hours=1")
    assert system["now"]["disk_path"] == str(tmp_path)
    assert writer.name in [c["name"] for c in system["containers"]]
    metrics = httpx.get(svc.base + "/metrics", timeout=5).text
    assert 'factory_analytics_log_lines_total{source="writer",result="parsed"} 90' in metrics
    assert svc.stop(signal.SIGTERM) == 0
    output = log.read_text()
    assert "t0ken" not in output
    assert tailnet.api_token not in output
