#!/usr/bin/python3
"""STAND-IN for forgejo-runner: records every command, emulates `daemon`'s start-up.

This is NOT the runner and never runs a job. Following the real image and forgejo-runner's docs:
- no subcommand: prints help and exits 0 (the image's CMD only prints help);
- `daemon -c|--config FILE`: reads the YAML config; credentials come from
  `server.connections` (Forgejo 15+) or else from `runner.file` (`.runner` JSON, relative to
  the working directory); checks that Docker is reachable as configured (`docker_host` `-` or
  `automount` → DOCKER_HOST or /var/run/docker.sock, `tcp://…`), failing like the real one
  ("cannot ping the docker daemon") when the socket's group is missing; declares itself to the
  server with its uuid/token (`unauthenticated: unregistered runner` → exit 1); then stays up.
Recorded in /data/.standin/: commands.jsonl (argv) and status.json (what the daemon saw).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import yaml

STATE = Path(os.environ.get("HOME", "/data")) / ".standin"


def record(argv: list[str]) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    with (STATE / "commands.jsonl").open("a") as fh:
        fh.write(json.dumps({"time": time.time(), "uid": os.getuid(), "argv": argv}) + "\n")


def status(**fields: object) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "status.json").write_text(json.dumps(fields, indent=1, sort_keys=True))


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.path)


def ping_docker(docker_host: str) -> str:
    """'ok' or the reason the daemon cannot be pinged."""
    target = docker_host
    if target in ("-", "automount", ""):
        target = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if target.startswith("unix://"):
            conn: http.client.HTTPConnection = UnixHTTPConnection(target[len("unix://") :])
        elif target.startswith("tcp://"):
            url = urlsplit(target)
            conn = http.client.HTTPConnection(url.hostname or "", url.port or 2375, timeout=5)
        else:
            return f"unsupported docker_host {target!r}"
        conn.request("GET", "/_ping")
        response = conn.getresponse()
        return "ok" if response.status == 200 else f"HTTP {response.status}"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"


def credentials(config: dict) -> tuple[str, str, str, str]:
    """(source, url, uuid, token) from server.connections or the .runner file."""
    connections = ((config.get("server") or {}).get("connections")) or {}
    if connections:
        key = sorted(connections)[0]
        conn = connections[key]
        return f"server.connections.{key}", conn["url"], conn["uuid"], conn["token"]
    file = Path((config.get("runner") or {}).get("file") or ".runner")
    if not file.exists():
        raise SystemExit(f"registration file not found: {file}; please register the runner first")
    data = json.loads(file.read_text())
    return str(file), data["address"], data["uuid"], data["token"]


def declare(url: str, uuid: str, token: str, labels: list[str]) -> tuple[int, str]:
    endpoint = url.rstrip("/") + "/api/actions/runner.v1.RunnerService/Declare"
    body = json.dumps({"version": "stand-in", "labels": labels}).encode()
    request = urllib.request.Request(  # noqa: S310 - the configured instance URL
        endpoint,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "x-runner-uuid": uuid,
            "x-runner-token": token,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def daemon(args: list[str]) -> int:
    config_path = None
    for i, arg in enumerate(args):
        if arg in ("-c", "--config") and i + 1 < len(args):
            config_path = args[i + 1]
        elif arg.startswith("--config="):
            config_path = arg.split("=", 1)[1]
    config = yaml.safe_load(Path(config_path).read_text()) if config_path else {}
    runner = config.get("runner") or {}
    container = config.get("container") or {}
    labels = [label.split(":", 1)[0] for label in runner.get("labels") or []]
    docker = ping_docker(container.get("docker_host", "-"))
    if docker != "ok":
        status(state="failed", docker=docker)
        print(f"cannot ping the docker daemon: {docker}", file=sys.stderr)
        return 1
    source, url, uuid, token = credentials(config)
    code, body = declare(url, uuid, token, labels)
    if code != 200:
        status(state="unregistered", http=code, uuid=uuid, source=source)
        print(f"unauthenticated: unregistered runner ({code}: {body})", file=sys.stderr)
        return 1
    status(
        state="declared",
        uuid=uuid,
        url=url,
        source=source,
        labels=runner.get("labels") or [],
        capacity=runner.get("capacity"),
        envs=sorted((runner.get("envs") or {}).keys()),
        network=container.get("network"),
        docker_host=container.get("docker_host"),
        docker=docker,
        cache=config.get("cache") or {},
        groups=sorted(os.getgroups()),
    )
    print(f"runner {uuid} declared to {url} with labels {labels}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


def main() -> int:
    args = sys.argv[1:]
    record(["forgejo-runner", *args])
    if not args or args[0] in ("help", "-h", "--help"):
        print("forgejo-runner (stand-in)\n\nCommands: daemon, register, create-runner-file, ...")
        return 0
    if args[0] == "daemon":
        return daemon(args[1:])
    print(f"stand-in: unsupported command {args[:2]}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
