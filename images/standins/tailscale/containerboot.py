#!/usr/bin/env python3
"""STAND-IN for tailscale/tailscale's containerboot (see the Dockerfile beside it).

Follows Tailscale's containerboot docs for the settings the reconciler renders and writes
what it did to /run/containerboot-standin/status.json (never the auth key itself):

- state: with TS_STATE_DIR, `<dir>/tailscaled.state` holds the node, in tailscaled's file
  store format (tailscale/tailscale `ipn/store`, not in the docs: a JSON object of state
  key → base64 bytes). Like tailscaled it writes `_machinekey` at start, before any login, so
  a failed first run leaves a non-empty file that is *not* a logged-in node; a login adds
  `profile-<id>`, `_profiles` and `_current-profile` (whose value names the profile key).
  Without TS_STATE_DIR the node lives in memory and every start is a new registration (the
  duplicate-node failure);
- login: needed when there is no state, or on every start unless TS_AUTH_ONCE=true; it
  needs an auth key (TS_AUTHKEY, alias TS_AUTH_KEY, `file:/path` read at login time) and
  fails like `tailscale up` without one;
- serve: TS_SERVE_CONFIG is parsed as an ipn.ServeConfig, `${TS_CERT_DOMAIN}` replaced by
  the node's name, and each Proxy target is probed over loopback;
- health: TS_ENABLE_HEALTH_CHECK=true serves /healthz on TS_LOCAL_ADDR_PORT (default
  [::]:9002): 200 once logged in, else 503.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

STATUS_DIR = Path("/run/containerboot-standin")
CERT_DOMAIN_SUFFIX = "standin.ts.net"
RECORDED = (
    "TS_HOSTNAME",
    "TS_STATE_DIR",
    "TS_AUTH_ONCE",
    "TS_USERSPACE",
    "TS_ACCEPT_DNS",
    "TS_EXTRA_ARGS",
    "TS_SERVE_CONFIG",
    "TS_SOCKET",
    "TS_ENABLE_HEALTH_CHECK",
    "TS_LOCAL_ADDR_PORT",
    "TS_DEST_IP",
    "TS_ROUTES",
    "TS_TAILSCALED_EXTRA_ARGS",
)
status: dict = {"standin": "tailscale/tailscale containerboot", "logged_in": False}


def log(message: str) -> None:
    print(f"containerboot(stand-in): {message}", flush=True)


def write_status() -> None:
    STATUS_DIR.mkdir(parents=True, exist_ok=True)
    tmp = STATUS_DIR / "status.json.tmp"
    tmp.write_text(json.dumps(status, indent=2, sort_keys=True))
    tmp.replace(STATUS_DIR / "status.json")


def fail(message: str) -> None:
    status["error"] = message
    write_status()
    log(message)
    sys.exit(1)


def truthy(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes")


def auth_key() -> str | None:
    raw = os.environ.get("TS_AUTHKEY") or os.environ.get("TS_AUTH_KEY")
    if not raw:
        return None
    if raw.startswith("file:"):
        path = Path(raw.removeprefix("file:"))
        try:
            return path.read_text().strip() or None
        except OSError as exc:
            fail(f"reading auth key file {path}: {exc.strerror}")
    return raw.strip()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def read_state(state_file: Path | None) -> dict[str, str]:
    """The file store: state key → base64 value ({} when absent or unreadable)."""
    if state_file is None or not state_file.is_file() or not state_file.stat().st_size:
        return {}
    try:
        value = json.loads(state_file.read_text())
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def write_state(state_file: Path | None, state: dict[str, str]) -> None:
    if state_file is None:
        return
    tmp = state_file.with_name(state_file.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.chmod(0o600)
    tmp.replace(state_file)


def current_node(state: dict[str, str]) -> dict:
    """The logged-in node: the profile `_current-profile` names ({} when there is none)."""
    try:
        key = base64.b64decode(state.get("_current-profile", "")).decode()
        return json.loads(base64.b64decode(state[key])) if key else {}
    except (KeyError, ValueError):
        return {}


def login(hostname: str, state_file: Path | None, state: dict[str, str], previous: dict) -> dict:
    key = auth_key()
    if key is None:
        fail(
            "node needs login and no auth key is set (TS_AUTHKEY); an interactive login "
            "URL would be printed here"
        )
    assert key is not None
    if not key.startswith("tskey-"):
        fail("invalid key: auth keys start with tskey-")
    node = {
        "hostname": hostname,
        "node_id": previous.get("node_id") or f"n{secrets.token_hex(6)}CNTRL",
        "logins": int(previous.get("logins", 0)) + 1,
        "advertise_tags": extra_arg("--advertise-tags"),
    }
    profile_id = previous.get("profile_id") or secrets.token_hex(2)
    node["profile_id"] = profile_id
    key = f"profile-{profile_id}"
    state[key] = b64(json.dumps(node, sort_keys=True).encode())
    profiles = {profile_id: {"ID": profile_id, "Name": hostname, "Key": key}}
    state["_profiles"] = b64(json.dumps(profiles).encode())
    state["_current-profile"] = b64(key.encode())
    write_state(state_file, state)
    return node


def extra_arg(flag: str) -> list[str]:
    for arg in os.environ.get("TS_EXTRA_ARGS", "").split():
        if arg.startswith(flag + "="):
            return [t for t in arg.split("=", 1)[1].split(",") if t]
    return []


def serve(hostname: str) -> None:
    path = os.environ.get("TS_SERVE_CONFIG")
    if not path:
        return
    if os.environ.get("TS_DEST_IP"):
        fail("TS_SERVE_CONFIG is incompatible with TS_DEST_IP")
    try:
        text = Path(path).read_text()
    except OSError as exc:
        fail(f"reading TS_SERVE_CONFIG {path}: {exc.strerror}")
    domain = f"{hostname}.{CERT_DOMAIN_SUFFIX}"
    try:
        config = json.loads(text.replace("${TS_CERT_DOMAIN}", domain))
    except json.JSONDecodeError as exc:
        fail(f"TS_SERVE_CONFIG {path} is not valid JSON: {exc}")
    status["serve_config"] = config
    targets = []
    for site in (config.get("Web") or {}).values():
        for handler in (site.get("Handlers") or {}).values():
            if handler.get("Proxy"):
                targets.append(handler["Proxy"])
    status["proxy_checks"] = {t: probe(t) for t in targets}


def probe(url: str) -> str:
    """What a request over Serve would reach: only works inside the service's namespace."""
    deadline = time.monotonic() + 20
    last = "unreachable"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                return f"http {response.status}"
        except urllib.error.HTTPError as exc:
            return f"http {exc.code}"
        except OSError as exc:
            last = f"unreachable: {exc}"
        time.sleep(0.5)
    return last


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path == "/healthz" and status.get("logged_in")
        self.send_response(200 if ok else 503)
        self.end_headers()
        self.wfile.write(b"ok\n" if ok else b"not logged in\n")

    def log_message(self, *args: object) -> None:
        return


def health() -> None:
    if not truthy("TS_ENABLE_HEALTH_CHECK", False):
        return
    addr = os.environ.get("TS_LOCAL_ADDR_PORT", "[::]:9002")
    host, _, port = addr.rpartition(":")
    host = host.strip("[]") or "::"
    server_class = HTTPServer
    if ":" in host:
        import socket

        class V6(HTTPServer):
            address_family = socket.AF_INET6

        server_class = V6
    server = server_class((host, int(port)), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    hostname = os.environ.get("TS_HOSTNAME") or os.uname().nodename
    key_env = os.environ.get("TS_AUTHKEY") or os.environ.get("TS_AUTH_KEY") or ""
    status["env"] = {name: os.environ[name] for name in RECORDED if name in os.environ}
    status["authkey_source"] = (
        key_env if key_env.startswith("file:") else ("literal (not recorded)" if key_env else None)
    )
    status["userspace"] = truthy("TS_USERSPACE", True)
    status["accept_dns"] = truthy("TS_ACCEPT_DNS", False)
    state_dir = os.environ.get("TS_STATE_DIR")
    state_file = Path(state_dir) / "tailscaled.state" if state_dir else None
    if state_file is None:
        log("no TS_STATE_DIR: state is in memory; every start registers a new node")
    state = read_state(state_file)
    if "_machinekey" not in state:  # tailscaled makes its machine key before any login
        state["_machinekey"] = b64(f"privkey:{secrets.token_hex(32)}".encode())
        write_state(state_file, state)
    previous = current_node(state)
    needs_login = not previous or not truthy("TS_AUTH_ONCE", False)
    status["state_found"] = bool(previous)
    status["login_performed"] = needs_login
    node = login(hostname, state_file, state, previous) if needs_login else previous
    status.update(logged_in=True, node=node, cert_domain=f"{hostname}.{CERT_DOMAIN_SUFFIX}")
    health()
    write_status()
    serve(hostname)
    write_status()
    log(f"node {hostname} up (stand-in); serving")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
