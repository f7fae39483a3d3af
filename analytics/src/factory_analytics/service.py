"""Assemble the running service: open the database, build the collectors the configuration
asks for, and run each on its own interval in a worker thread.

Each collector gets its own SQLite connection (WAL lets them write one after the other while
the API reads). A collector that fails is logged and retried at its next interval; it never
stops the others or the API.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
from factory_common.env_secrets import EnvSecretError
from factory_common.tailscale.api import TailscaleClient, credentials_from_env

from factory_analytics.collectors.dockerlogs import DockerConnector, DockerLines
from factory_analytics.collectors.ingest import LineSource, LogIngester
from factory_analytics.collectors.logfiles import FileLines
from factory_analytics.collectors.probes import ProbeCollector
from factory_analytics.collectors.system import ContainerStats, SystemCollector
from factory_analytics.collectors.tailnet import TailnetCollector
from factory_analytics.config import AnalyticsConfig, ConfigError
from factory_analytics.probe_traffic import ProbeTraffic, own_addresses
from factory_analytics.store.db import open_database
from factory_analytics.store.retention import prune
from factory_analytics.store.writes import record_collector
from factory_analytics.timeutil import now as wall_clock

log = logging.getLogger("factory_analytics")

RETENTION_INTERVAL = 3600


@dataclass
class Task:
    name: str
    interval: float
    run: Callable[[], object]
    close: Callable[[], None] | None = None
    last_error: str | None = field(default=None)


class Service:
    """The collectors of one configuration, started and stopped together."""

    def __init__(
        self,
        config: AnalyticsConfig,
        *,
        docker_client: docker.DockerClient | None = None,
        tailscale_client: TailscaleClient | None = None,
    ) -> None:
        self.config = config
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: list[sqlite3.Connection] = []
        open_database(config.database).close()  # migrate once, before anything else
        self._docker = DockerConnector(docker_client)
        self._tailscale = tailscale_client
        self.tasks = self._build_tasks()

    def _conn(self) -> sqlite3.Connection:
        conn = open_database(self.config.database)
        self._connections.append(conn)
        return conn

    def _build_tasks(self) -> list[Task]:
        cfg = self.config
        tasks: list[Task] = []
        probe_traffic = ProbeTraffic.of(cfg.probes, own_addresses)
        for source in cfg.logs:
            reader: LineSource
            if source.container:
                reader = DockerLines(self._docker, source.container)
            else:
                reader = FileLines(Path(str(source.file)))
            ingester = LogIngester(
                self._conn(),
                source.name,
                reader,
                source.format,
                source.routes,
                probe_traffic=probe_traffic,
                identity_proxies=source.identity_proxies,
            )
            tasks.append(Task(f"logs:{source.name}", source.poll_seconds, ingester.poll))
        if cfg.tailnet.enabled:
            client = self._tailscale or _tailscale_from_env(cfg)
            if client is not None:
                collector = TailnetCollector(self._conn(), client, cfg.tailnet.interval_seconds)
                tasks.append(Task("tailnet", cfg.tailnet.interval_seconds, collector.poll))
            else:
                message = (
                    "no Tailscale credentials: set TAILSCALE_API_KEY(_FILE) or "
                    "TAILSCALE_OAUTH_CLIENT_ID + TAILSCALE_OAUTH_CLIENT_SECRET(_FILE)"
                )
                log.warning("tailnet presence disabled: %s", message)
                # shown by /api/v1/devices (poll.last_error), so the gap explains itself
                conn = self._conn()
                record_collector(conn, "tailnet", wall_clock(), error=message)
        if cfg.system.enabled:
            stats = None
            if cfg.system.containers:
                stats = ContainerStats(self._docker, cfg.system.container_label)
            system = SystemCollector(self._conn(), cfg.system.disk_path, stats)
            tasks.append(Task("system", cfg.system.interval_seconds, system.poll))
        for probe in cfg.probes:
            prober = ProbeCollector(self._conn(), probe)
            tasks.append(
                Task(f"probe:{probe.name}", probe.interval_seconds, prober.poll, prober.close)
            )
        retention_conn = self._conn()
        tasks.append(
            Task(
                "retention",
                RETENTION_INTERVAL,
                lambda: prune(
                    retention_conn, wall_clock(), cfg.retention.raw_days, cfg.retention.rollup_days
                ),
            )
        )
        return tasks

    def start(self) -> None:
        for task in self.tasks:
            thread = threading.Thread(target=self._loop, args=(task,), name=task.name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def run_once(self) -> None:
        """Run every task once, in order (tests and `factory-analytics collect --once`)."""
        for task in self.tasks:
            self._run(task)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        for task in self.tasks:
            if task.close is not None:
                task.close()
        for conn in self._connections:
            conn.close()

    def _loop(self, task: Task) -> None:
        while not self._stop.is_set():
            self._run(task)
            self._stop.wait(task.interval)

    def _run(self, task: Task) -> None:
        try:
            task.run()
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if message != task.last_error:
                log.warning("%s failed: %s (retrying every %gs)", task.name, message, task.interval)
            task.last_error = message
            return
        if task.last_error is not None:
            log.info("%s recovered", task.name)
            task.last_error = None


def _tailscale_from_env(cfg: AnalyticsConfig) -> TailscaleClient | None:
    try:
        credentials = credentials_from_env()
    except EnvSecretError as exc:  # e.g. an empty TAILSCALE_API_KEY_FILE: say so, not "none"
        raise ConfigError(str(exc)) from exc
    if credentials is None:
        return None
    return TailscaleClient(
        credentials,
        tailnet=cfg.tailnet.tailnet,
        base_url=cfg.tailnet.api_url,
        user_agent="factory-analytics",
    )
