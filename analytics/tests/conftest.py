"""Shared fixtures: a migrated database in a temp dir, the seeded API in-process, a real
uvicorn server on a loopback port of ANALYTICS's range (20000-20499)."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from factory_analytics.config import AnalyticsConfig
from factory_analytics.testing.seed import NOW, analytics_config, seed
from factory_analytics.web.app import create_app

PORT_RANGE = range(20000, 20500)


def free_port() -> int:
    """A free loopback port inside this package's range."""
    for port in PORT_RANGE:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-20499")


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeded once per session; tests that change it get a copy (`seeded_config`)."""
    db = tmp_path_factory.mktemp("seeded") / "analytics.db"
    seed(db)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


@pytest.fixture
def seeded_config(seeded_db: Path, tmp_path: Path) -> AnalyticsConfig:
    db = tmp_path / "analytics.db"
    shutil.copyfile(seeded_db, db)
    return analytics_config(db)


@pytest.fixture(scope="session")
def api(seeded_db: Path) -> Iterator[httpx.Client]:
    """The seeded API over a real loopback socket (read-only tests share it)."""
    app = create_app(analytics_config(seeded_db), None, clock=lambda: NOW)
    with serve(app) as base_url, httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # running in a thread
        pass


class serve:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a thread; yields its base URL."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            proxy_headers=False,
            access_log=False,
        )
        self.server = _Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
