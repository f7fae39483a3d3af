"""Synthetic probes: request each declared endpoint at its interval, the way a user would,
and store status and time. This is how `/dashboard/complete` taking 30 s becomes visible even
when nobody's access log carries timing.

The probed API's access log is usually ingested too, so every probe request also shows up
there, marked by `USER_AGENT`. Those lines are measurements, not usage: `probe_traffic`
recognises them, and ingestion counts them per source (`probes` in /api/v1/sources).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import httpx

from factory_analytics import __version__
from factory_analytics.config import ProbeConfig
from factory_analytics.logformats import PROBE_USER_AGENT
from factory_analytics.store.samples import ProbeResult, write_probe
from factory_analytics.timeutil import now as wall_clock

USER_AGENT = f"{PROBE_USER_AGENT}{__version__}"


def run_probe(
    probe: ProbeConfig,
    client: httpx.Client,
    clock: Callable[[], float] = wall_clock,
) -> ProbeResult:
    """One check. Never raises: every failure is a result with a short reason."""
    at = clock()
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        response = client.request(probe.method, probe.url, timeout=probe.timeout_seconds)
        response.read()
        status = response.status_code
    except httpx.TimeoutException:
        error = f"timeout after {probe.timeout_seconds:g} s"
    except httpx.ConnectError as exc:
        error = "connection refused" if "refused" in str(exc).lower() else f"connect: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    ok = status is not None and status in probe.expect_status
    if status is not None and not ok:
        error = f"status {status}"
    return ProbeResult(
        at=at,
        name=probe.name,
        method=probe.method,
        url=probe.url,
        ok=ok,
        status=status,
        duration_ms=elapsed_ms if status is not None else None,
        error=error,
    )


class ProbeCollector:
    def __init__(self, conn: sqlite3.Connection, probe: ProbeConfig) -> None:
        self.conn = conn
        self.probe = probe
        # redirects are not followed: a probe measures the endpoint itself
        self.client = httpx.Client(follow_redirects=False, headers={"User-Agent": USER_AGENT})

    def poll(self) -> ProbeResult:
        result = run_probe(self.probe, self.client)
        write_probe(self.conn, result)
        return result

    def close(self) -> None:
        self.client.close()
