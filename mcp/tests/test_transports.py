"""Streamable HTTP (bearer, DNS rebinding, probes, stateless) and stdio, over real sockets/pipes."""

from __future__ import annotations

import importlib.util
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from factory_mcp.http_app import build_http_app
from factory_mcp.server import build_server
from factory_mcp.testing import factory_stub
from factory_mcp.testing.serve import free_port, serve

from .conftest import ERAS, make_deps, structured

TOKEN = "test-token-0123456789abcdef"


@contextmanager
def mcp_http(
    scenario,
    analytics,
    *,
    token: str | None = TOKEN,
    stateless: bool = False,
    json_response: bool = True,
) -> Iterator[str]:
    env = {"MCP_AUTH_TOKEN": token} if token else {}
    deps = make_deps(scenario, analytics, env)
    app = build_http_app(
        build_server(deps), deps, host="127.0.0.1", stateless=stateless, json_response=json_response
    )
    with serve(app, free_port(19500, 19999)) as url:
        yield url


def authed(token: str = TOKEN) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)


INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_bearer_token_is_required_and_plain(scenario, analytics) -> None:
    with mcp_http(scenario, analytics) as url:
        missing = httpx.post(f"{url}/mcp", json=INIT, headers=MCP_HEADERS)
        wrong = httpx.post(
            f"{url}/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": "Bearer nope"}
        )
        good = httpx.post(
            f"{url}/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}
        )
        prm = httpx.get(
            f"{url}/.well-known/oauth-protected-resource/mcp",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert missing.status_code == 401
    assert missing.json() == {"error": "unauthorized", "message": "missing bearer token"}
    assert "resource_metadata" not in missing.headers["www-authenticate"]
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "wrong bearer token"
    assert good.status_code == 200
    assert prm.status_code == 404  # no OAuth metadata in static-token mode


def test_probes_are_open_and_readyz_checks_the_factory(scenario, analytics) -> None:
    with mcp_http(scenario, analytics) as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
    scenario.ready = False
    with mcp_http(scenario, analytics) as url:
        not_ready = httpx.get(f"{url}/readyz")
        detailed = httpx.get(f"{url}/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
    assert not_ready.status_code == 503
    assert not_ready.json() == {"status": "not_ready"}  # no URL, no database error
    assert detailed.status_code == 503
    assert "not ready" in detailed.json()["factory_api"]
    assert "connection refused" in detailed.json()["factory_api"]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer nope", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"]
)
def test_readyz_hides_internals_without_the_token(scenario, analytics, authorization) -> None:
    scenario.ready = False
    headers = {"Authorization": authorization} if authorization else {}
    with mcp_http(scenario, analytics) as url:
        answer = httpx.get(f"{url}/readyz", headers=headers)
        health = httpx.get(f"{url}/healthz", headers=headers)
    assert answer.status_code == 503
    assert answer.json() == {"status": "not_ready"}
    assert "factory" not in answer.text
    assert "influx" not in answer.text.lower()
    assert health.json() == {"status": "ok"}


def test_readyz_reports_an_unreachable_factory(scenario, analytics) -> None:
    deps = make_deps(
        scenario,
        analytics,
        {"FACTORY_API_URL": "http://127.0.0.1:19598", "FACTORY_MCP_RETRIES": "0"},
        real_network=True,
    )
    app = build_http_app(build_server(deps), deps, host="127.0.0.1")
    with serve(app, free_port(19500, 19999)) as url:
        answer = httpx.get(f"{url}/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "not_ready"}  # no token configured: never any detail
    with_token = make_deps(
        scenario,
        analytics,
        {
            "FACTORY_API_URL": "http://127.0.0.1:19598",
            "FACTORY_MCP_RETRIES": "0",
            "MCP_AUTH_TOKEN": TOKEN,
        },
        real_network=True,
    )
    app = build_http_app(build_server(with_token), with_token, host="127.0.0.1")
    with serve(app, free_port(19500, 19999)) as url:
        answer = httpx.get(f"{url}/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 503
    assert "Cannot reach the factory API" in answer.json()["factory_api"]


def test_dns_rebinding_protection(scenario, analytics) -> None:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    with mcp_http(scenario, analytics) as url:
        evil_host = httpx.post(f"{url}/mcp", json=INIT, headers={**headers, "Host": "evil.example"})
        evil_origin = httpx.post(
            f"{url}/mcp", json=INIT, headers={**headers, "Origin": "http://evil.example"}
        )
        local_origin = httpx.post(
            f"{url}/mcp", json=INIT, headers={**headers, "Origin": "http://localhost:6274"}
        )
    assert evil_host.status_code == 421
    assert evil_origin.status_code == 403
    assert local_origin.status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("era", sorted(ERAS))
@pytest.mark.parametrize(
    ("stateless", "json_response"),
    [(False, True), (False, False), (True, True)],
    ids=["sessions-json", "sessions-sse", "stateless-json"],
)
async def test_tool_call_over_http(scenario, analytics, era, stateless, json_response) -> None:
    with mcp_http(scenario, analytics, stateless=stateless, json_response=json_response) as url:
        async with authed() as http:
            transport = streamable_http_client(f"{url}/mcp", http_client=http)
            async with Client(transport, mode=era) as client:
                assert client.protocol_version == ERAS[era]
                out = structured(await client.call_tool("get_current_price", {}))
                tools = (await client.list_tools()).tools
    assert out["tariff_period"] == "P1"
    assert len(tools) == 13


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _read_json_line(proc: subprocess.Popen[bytes], want_id: int, timeout: float) -> dict:
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not selector.select(timeout=0.5):
            continue
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line, "server closed stdout"
        message = json.loads(line)  # every stdout line must be a JSON-RPC message
        assert message["jsonrpc"] == "2.0"
        if message.get("id") == want_id:
            return message
    raise AssertionError(f"no answer to request {want_id} within {timeout} s")


def _call(proc: subprocess.Popen[bytes], request_id: int, tool: str) -> dict:
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {}},
    }
    proc.stdin.write((json.dumps(message) + "\n").encode())  # type: ignore[union-attr]
    proc.stdin.flush()  # type: ignore[union-attr]
    return _read_json_line(proc, request_id, timeout=30)["result"]


def test_stdio_speaks_only_protocol_on_stdout_and_logs_json_to_stderr(scenario) -> None:
    # The subprocess runs on the real clock, so the stand-in's clock is set relative to it:
    # first three hours behind (a stale price), then three hours ahead (a future-dated one).
    real_now = datetime.now(UTC)
    behind, ahead = real_now - timedelta(hours=3), real_now + timedelta(hours=3)
    with serve(factory_stub.build_app(scenario), free_port(19500, 19999)) as stub_url:
        env = {
            **os.environ,
            "FACTORY_API_URL": stub_url,
            "FACTORY_MCP_CACHE_TTL": "0",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("MCP_AUTH_TOKEN", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "factory_mcp.cli"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            for message in (INIT, {"jsonrpc": "2.0", "method": "notifications/initialized"}):
                proc.stdin.write((json.dumps(message) + "\n").encode())  # type: ignore[union-attr]
            scenario.now = behind
            old = _call(proc, 2, "get_current_price")
            scenario.now = ahead
            future = _call(proc, 3, "get_current_price")
        finally:
            proc.stdin.close()  # type: ignore[union-attr]
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            stderr = proc.stderr.read().decode()  # type: ignore[union-attr]
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
    assert old["isError"] is False
    price = old["structuredContent"]
    assert json.loads(old["content"][0]["text"]) == price
    assert datetime.fromisoformat(price["hour_start"]) == behind.replace(
        minute=0, second=0, microsecond=0
    )
    assert price["stale"] is True
    assert price["future"] is False
    assert 180 <= price["age_minutes"] < 242  # 3 h back, truncated to its hour
    assert price["summary"].startswith("STALE")
    ahead_price = future["structuredContent"]
    assert ahead_price["future"] is True
    assert ahead_price["stale"] is True
    assert ahead_price["age_minutes"] < 0
    assert "in the future" in ahead_price["summary"]
    calls = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    call = next(c for c in calls if c.get("tool") == "get_current_price")
    assert call["outcome"] == "ok"
    assert call["upstream_status"] == 200
    assert call["result_chars"] > 100
    assert "duration_ms" in call


def _wait_for_port(proc: subprocess.Popen[bytes], port: int) -> None:
    """Until the server accepts connections (a TCP connect: no request to count)."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"factory-mcp did not listen on {port}")


def test_http_writes_one_access_line_per_request_for_analytics(scenario) -> None:
    leaks = {
        "token": TOKEN,
        "wrong token": "wrong-secret-999",
        "query": "secret-query",
        "cookie": "cookie-secret",
        "forwarded-for": "203.0.113.9",
        "user agent": "secret-agent/1.0",
    }
    noise = {
        "Cookie": f"session={leaks['cookie']}",
        "X-Forwarded-For": leaks["forwarded-for"],
        "User-Agent": leaks["user agent"],
    }
    with serve(factory_stub.build_app(scenario), free_port(19500, 19999)) as stub_url:
        port = free_port(19500, 19999)
        env = {**os.environ, "FACTORY_API_URL": stub_url, "MCP_AUTH_TOKEN": TOKEN}
        env["PYTHONUNBUFFERED"] = "1"
        argv = [sys.executable, "-m", "factory_mcp.cli", "--transport", "http", "--stateless"]
        proc = subprocess.Popen(
            [*argv, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for_port(proc, port)
            url = f"http://127.0.0.1:{port}"
            me = {"Authorization": f"Bearer {TOKEN}", "Tailscale-User-Login": "alice@example.com"}
            call = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "get_savings", "arguments": {}},
            }
            answers = [
                httpx.get(f"{url}/healthz"),
                httpx.post(
                    f"{url}/mcp?session={leaks['query']}",
                    json=INIT,
                    headers={
                        **MCP_HEADERS,
                        **noise,
                        "Authorization": f"Bearer {leaks['wrong token']}",
                    },
                ),
                httpx.post(f"{url}/mcp", json=INIT, headers={**MCP_HEADERS, **noise, **me}),
                httpx.post(
                    f"{url}/mcp",
                    json=call,
                    headers={**MCP_HEADERS, **me, "MCP-Protocol-Version": "2025-11-25"},
                ),
            ]
        finally:
            proc.terminate()
            try:
                stderr = proc.communicate(timeout=15)[1].decode()
            except subprocess.TimeoutExpired:
                proc.kill()
                stderr = proc.communicate()[1].decode()
    assert [a.status_code for a in answers] == [200, 401, 200, 200]
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "factory_mcp.access"]
    assert [(a["method"], a["path"], a["status"]) for a in access] == [
        ("GET", "/healthz", 200),
        ("POST", "/mcp", 401),
        ("POST", "/mcp", 200),
        ("POST", "/mcp", 200),
    ]
    alice = "alice@example.com"
    assert [a["user_login"] for a in access] == [None, None, alice, alice]
    assert {a["client_ip"] for a in access} == {"127.0.0.1"}
    assert all(a["duration_ms"] >= 0 and a["bytes"] > 0 for a in access)
    for what, secret in leaks.items():
        assert secret not in stderr, f"the {what} leaked into the logs"
    # The tool-call line stays beside the access lines.
    assert any(line.get("tool") == "get_savings" for line in lines)
    if importlib.util.find_spec("factory_analytics") is None:
        return
    from factory_analytics.logformats import IGNORED, AccessRecord, parse_json

    parsed = [parse_json(line) for line in stderr.splitlines() if line.strip()]
    records = [p for p in parsed if isinstance(p, AccessRecord)]
    assert [(r.method, r.path, r.status, r.login, r.client) for r in records] == [
        (a["method"], a["path"], a["status"], a["user_login"], "127.0.0.1") for a in access
    ]
    assert all(r.ts is not None and r.duration_ms is not None for r in records)
    assert all(p == IGNORED for p in parsed if not isinstance(p, AccessRecord))
