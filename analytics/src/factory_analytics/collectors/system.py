"""Host metrics (psutil) and per-container CPU and memory (Docker API).

Inside a container psutil still reads the host's /proc/stat, /proc/meminfo and load average
(those are not namespaced), so the figures are the machine's; disk is the filesystem holding
`disk_path` (the /data volume). Container CPU is the delta of the engine's cumulative
counters between two of our own samples (`one_shot` stats return no previous sample), in the
Docker convention: 100 = one full core.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
import psutil

from factory_analytics.collectors.dockerlogs import DockerConnector, connector
from factory_analytics.store.samples import (
    ContainerSample,
    HostSample,
    write_containers,
    write_host,
)
from factory_analytics.timeutil import now as wall_clock


def host_sample(disk_path: str, at: float, cpu_pct: float | None = None) -> HostSample:
    mem = psutil.virtual_memory()
    try:
        disk = psutil.disk_usage(disk_path)
        disk_used, disk_total, path = disk.used, disk.total, disk_path
    except OSError:
        disk = psutil.disk_usage("/")
        disk_used, disk_total, path = disk.used, disk.total, "/"
    load_1, load_5, load_15 = os.getloadavg()
    return HostSample(
        at=at,
        cpu_pct=psutil.cpu_percent(interval=None) if cpu_pct is None else cpu_pct,
        cpu_count=psutil.cpu_count() or 1,
        load_1=load_1,
        load_5=load_5,
        load_15=load_15,
        memory_used_bytes=mem.total - mem.available,
        memory_total_bytes=mem.total,
        disk_path=path,
        disk_used_bytes=disk_used,
        disk_total_bytes=disk_total,
    )


class ContainerStats:
    """Keeps the previous cumulative counters per container to compute CPU deltas."""

    def __init__(
        self, client: docker.DockerClient | DockerConnector, label: str | None = None
    ) -> None:
        self._docker = connector(client)
        self.label = label
        self._previous: dict[str, tuple[int, int]] = {}

    def sample(self) -> list[ContainerSample]:
        filters = {"label": self.label} if self.label else {}
        containers = self._docker.get().containers.list(filters=filters)
        out = []
        for container in sorted(containers, key=lambda c: c.name):
            try:
                stats: dict[str, Any] = container.stats(stream=False, one_shot=True)
            except docker.errors.NotFound:
                continue  # went away between list and stats
            out.append(self._from_stats(container.id, container.name, stats))
        return out

    def _from_stats(self, cid: str, name: str, stats: dict[str, Any]) -> ContainerSample:
        cpu = stats.get("cpu_stats") or {}
        total = int((cpu.get("cpu_usage") or {}).get("total_usage") or 0)
        system = int(cpu.get("system_cpu_usage") or 0)
        cores = int(
            cpu.get("online_cpus")
            or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
            or 1
        )
        previous = self._previous.get(cid)
        self._previous[cid] = (total, system)
        cpu_pct = None
        if previous is not None and system > previous[1]:
            cpu_pct = max(0.0, (total - previous[0]) / (system - previous[1]) * cores * 100.0)
        mem = stats.get("memory_stats") or {}
        usage = mem.get("usage")
        details = mem.get("stats") or {}
        cache = details.get("inactive_file", details.get("total_inactive_file", 0)) or 0
        memory = None if usage is None else max(0, int(usage) - int(cache))
        return ContainerSample(
            name=name,
            cpu_pct=cpu_pct,
            memory_bytes=memory,
            memory_limit_bytes=mem.get("limit"),
            running=True,
        )


class SystemCollector:
    def __init__(
        self,
        conn: sqlite3.Connection,
        disk_path: str,
        containers: ContainerStats | None,
        clock: Callable[[], float] = wall_clock,
    ) -> None:
        self.conn = conn
        self.disk_path = disk_path
        self.containers = containers
        self.clock = clock
        self._first = True

    def poll(self) -> None:
        # CPU % is the busy share since the previous call; the very first call has no
        # previous one, so it measures over one second instead of reporting a bogus 0 %
        cpu = psutil.cpu_percent(interval=1.0) if self._first else None
        self._first = False
        at = self.clock()
        write_host(self.conn, host_sample(self.disk_path, at, cpu))
        if self.containers is not None:
            write_containers(self.conn, at, self.containers.sample())
