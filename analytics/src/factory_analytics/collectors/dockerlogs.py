"""Read a container's output through the Docker API from a persisted cursor.

Docker stamps every line with a nanosecond RFC 3339 time (`timestamps=True`), which is the
cursor: (container id, time of the last line taken, how many lines carried exactly that time).
Each read asks for lines since the cursor's whole second and skips what was already taken, so
a restart neither loses nor double-counts. A recreated container (new id under the same name)
is read from its first line. Lines without a time of their own (uvicorn) get Docker's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import docker
import docker.errors
import requests

from factory_analytics.collectors.lines import (
    MAX_LINE_CHARS,
    MAX_TAIL_BYTES,
    LogSourceError,
    OverlongLine,
    overlong,
)

MAX_LINES = 50_000
_second_cache: dict[str, int] = {}


__all__ = ["DockerConnector", "DockerLines", "LogSourceError", "parse_docker_time"]


class DockerConnector:
    """The Docker client, built on first use and again after the engine was unreachable, so a
    service started before dockerd (or without the socket yet) recovers on its own."""

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        self._client = client
        self._lock = threading.Lock()

    def get(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
                socket_path = host.removeprefix("unix://")
                if host.startswith("unix://") and not os.path.exists(socket_path):
                    raise LogSourceError(
                        f"Docker API not reachable ({socket_path} does not exist); mount"
                        " /var/run/docker.sock or set DOCKER_HOST"
                    )
                client = None
                try:
                    # API version negotiated with the engine (Debian's dockerd may be older
                    # than the SDK's default)
                    client = docker.from_env()
                    client.ping()
                except (docker.errors.DockerException, requests.RequestException) as exc:
                    if client is not None:
                        client.close()
                    raise LogSourceError(
                        f"Docker API not reachable ({exc}); mount /var/run/docker.sock or set"
                        " DOCKER_HOST"
                    ) from exc
                self._client = client
            return self._client

    def reset(self) -> None:
        with self._lock:
            self._client = None


def connector(client: docker.DockerClient | DockerConnector) -> DockerConnector:
    return client if isinstance(client, DockerConnector) else DockerConnector(client)


class DockerLines:
    kind = "docker"

    def __init__(self, client: docker.DockerClient | DockerConnector, container: str) -> None:
        self._docker = connector(client)
        self.target = container

    def read(self, cursor: dict[str, Any], now: float) -> tuple[list[tuple[str, float]], dict]:
        """At most MAX_LINES new lines. The log is streamed, never loaded whole: a container
        with a gigabyte of old output is taken in bounded steps, the cursor after each."""
        try:
            container = self._docker.get().containers.get(self.target)
            if cursor.get("id") != container.id:
                cursor = {"id": container.id, "ns": 0, "n": 0}
            since_s = int(cursor["ns"] // 1_000_000_000)
            kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": True}
            if since_s > 0:
                kwargs["since"] = since_s
            # the stream is always read to its end (lines past MAX_LINES are dropped and read
            # again next time): closing it early leaks the engine connection in docker-py
            return self._take(container.logs(stream=True, follow=False, **kwargs), cursor)
        except docker.errors.NotFound as exc:
            raise LogSourceError(f"container {self.target!r} not found") from exc
        except (docker.errors.DockerException, requests.RequestException) as exc:
            self._docker.reset()
            raise LogSourceError(f"Docker API: {exc}") from exc

    @staticmethod
    def _take(
        stream: Iterator[bytes], cursor: dict[str, Any]
    ) -> tuple[list[tuple[str, float]], dict]:
        base_ns, skip = int(cursor["ns"]), int(cursor["n"])
        last_ns, count = base_ns, skip
        out: list[tuple[str, float]] = []
        full = False
        for raw_line in _lines(stream):
            stamp, _, line = raw_line.partition(" ")
            ns = parse_docker_time(stamp)
            if ns is None or ns < base_ns:
                continue
            if ns == base_ns and skip > 0:
                skip -= 1  # taken by an earlier read
                continue
            if full:
                continue  # drain without keeping
            if ns == last_ns:
                count += 1
            else:
                last_ns, count = ns, 1
            if type(raw_line) is OverlongLine or len(line) > MAX_LINE_CHARS:
                out.append((overlong(line), ns / 1e9))
            else:
                out.append((line.rstrip("\r"), ns / 1e9))
            full = len(out) >= MAX_LINES
        if not out:
            return [], cursor
        return out, {"id": cursor["id"], "ns": last_ns, "n": count}


def _lines(stream: Iterator[bytes]) -> Iterator[str]:
    """Complete lines from the engine's chunks (a frame may hold part of a line or several).
    A line growing past MAX_TAIL_BYTES is yielded once as an OverlongLine and the rest of it
    dropped, so one endless line never fills memory."""
    pending = b""
    skipping = False
    for chunk in stream:
        pending += chunk
        if b"\n" not in pending:
            if len(pending) > MAX_TAIL_BYTES:
                if not skipping:
                    yield overlong(pending)
                pending, skipping = b"", True
            continue
        *complete, pending = pending.split(b"\n")
        if skipping:
            complete, skipping = complete[1:], False
        for raw in complete:
            yield raw.decode("utf-8", "replace")
    if pending and not skipping:
        yield pending.decode("utf-8", "replace")


def parse_docker_time(stamp: str) -> int | None:
    """`2026-11-25T10:18:16.123456789Z` → epoch nanoseconds (None if malformed)."""
    if len(stamp) < 20 or not stamp.endswith("Z"):
        return None
    whole, _, frac = stamp[:-1].partition(".")
    seconds = _second_cache.get(whole)
    if seconds is None:
        try:
            seconds = int(datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp())
        except ValueError:
            return None
        if len(_second_cache) > 10_000:
            _second_cache.clear()
        _second_cache[whole] = seconds
    if frac and not frac.isdigit():
        return None
    return seconds * 1_000_000_000 + int((frac or "0")[:9].ljust(9, "0"))
