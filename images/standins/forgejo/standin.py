#!/usr/bin/python3
"""STAND-IN for Forgejo (rootless image): records every command, emulates the calls we make.

This is NOT Forgejo. It exists because Forgejo cannot be installed or pulled on the machines
that run the tests; it follows Forgejo's documented behaviour exactly for what the reconciler
uses, and refuses everything else loudly (exit 2, "stand-in: unsupported"):

- entrypoint (docker-entrypoint.sh): on first start fill app.ini from the plain env (INSTALL_LOCK
  becomes true when SECRET_KEY is set), then at every start environment-to-ini:
  FORGEJO__section__KEY[__FILE] → app.ini, `_0X2E_` = `.`, `_0X2D_` = `-`; then `web`.
- web on [server] HTTP_PORT (3000): runs the "migrations" (creates the database), then answers
  GET /api/healthz (200 pass; 424 fail in a build with FORGEJO_STANDIN_BROKEN, a test knob),
  GET /api/v1/version (`X+gitea-1.22.0`) and, with Basic auth
  only, DELETE /api/v1/users/{u}/tokens/{name} (Forgejo API docs); refuses to start on a
  database migrated by a newer version; generates INTERNAL_TOKEN into app.ini when it is empty
  and INSTALL_LOCK is true. The runner protocol is reduced to one call, Declare, checking the
  runner's uuid/token headers ("unregistered runner" otherwise).
- CLI (`forgejo`, `gitea`, `/app/gitea/forgejo-cli`): refuses to run as root; needs a migrated
  database; `admin user list|create|generate-access-token`, `forgejo-cli actions register`
  (uuid from the first 16 chars of the secret, idempotent per secret, labels reset unless
  --labels/--keep-labels), `dump --file`, `generate secret`, `migrate`, `web`.

Recorded: one JSON line per invocation in /var/lib/gitea/standin/commands.jsonl; values of
--secret and --password are replaced by a short sha256 so tests can compare without secrets.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WORK = Path(os.environ.get("GITEA_WORK_DIR", "/var/lib/gitea"))
APP_INI = Path(os.environ.get("GITEA_APP_INI", "/var/lib/gitea/custom/conf/app.ini"))
VERSION = os.environ.get("FORGEJO_STANDIN_VERSION", "11.0.7")
# A test knob, not Forgejo behaviour: this build plays a release that migrated the database
# and then fails its health check (the case an upgrade's rollback must not make worse).
BROKEN = bool(os.environ.get("FORGEJO_STANDIN_BROKEN"))
RECORD = WORK / "standin" / "commands.jsonl"
DB = WORK / "data" / "gitea.db"
SECRET_FLAGS = {"--secret", "--password", "-p"}
ENV_RE = re.compile(r"^(?:FORGEJO|GITEA)__(.*?)__([A-Z0-9_]+?)(__FILE)?$", re.IGNORECASE)


def record(argv: list[str], note: str = "") -> None:
    redacted, hide = [], False
    for arg in argv:
        if hide:
            redacted.append("sha256:" + hashlib.sha256(arg.encode()).hexdigest()[:12])
            hide = False
            continue
        flag, eq, value = arg.partition("=")
        if flag in SECRET_FLAGS and eq:
            redacted.append(f"{flag}=sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12])
        else:
            redacted.append(arg)
            hide = arg in SECRET_FLAGS
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    entry = {"time": time.time(), "uid": os.getuid(), "argv": redacted, "note": note}
    with RECORD.open("a") as fh:
        fh.write(json.dumps(entry) + "\n")


def fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text.split("+")[0])[:3])


# --- configuration ----------------------------------------------------------------------


def load_ini() -> configparser.ConfigParser:
    ini = configparser.ConfigParser(interpolation=None, default_section="__none__")
    ini.optionxform = str  # keep key case, as Forgejo does
    if APP_INI.exists():
        ini.read(APP_INI)
    return ini


def save_ini(ini: configparser.ConfigParser) -> None:
    APP_INI.parent.mkdir(parents=True, exist_ok=True)
    with APP_INI.open("w") as fh:
        ini.write(fh)


def setup() -> None:
    """docker-setup.sh: template on first start, then environment-to-ini on every start."""
    ini = load_ini()
    if not APP_INI.exists():
        env = os.environ
        lock = env.get("INSTALL_LOCK") or ("true" if env.get("SECRET_KEY") else "")
        ini["security"] = {"INSTALL_LOCK": lock, "SECRET_KEY": env.get("SECRET_KEY", "")}
        ini["server"] = {
            "HTTP_PORT": env.get("HTTP_PORT", "3000"),
            "ROOT_URL": env.get("ROOT_URL", ""),
        }
        ini["database"] = {"DB_TYPE": env.get("DB_TYPE", "sqlite3")}
    for name, value in sorted(os.environ.items()):
        match = ENV_RE.match(name)
        if not match:
            continue
        section = match.group(1).replace("_0X2E_", ".").replace("_0X2D_", "-").lower()
        key = match.group(2)
        if match.group(3):
            value = Path(value).read_text().rstrip("\n")
        section = section or "DEFAULT"
        if not ini.has_section(section):
            ini.add_section(section)
        ini[section][key] = value
    save_ini(ini)


# --- database (a JSON file standing in for gitea.db) ------------------------------------


def db_load() -> dict:
    if not DB.exists():
        raise SystemExit(fail("Command error: database is not migrated yet (run after web start)"))
    return json.loads(DB.read_text())


def db_save(data: dict) -> None:
    tmp = DB.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(DB)


def migrate() -> None:
    DB.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(DB.read_text()) if DB.exists() else {"users": {}, "tokens": {}, "runners": {}}
    if version_tuple(data.get("version", "0")) > version_tuple(VERSION):
        raise SystemExit(
            fail(
                f"Your database was migrated by Forgejo {data['version']}; "
                f"you can not use it with the older Forgejo {VERSION}"
            )
        )
    data["version"] = VERSION
    db_save(data)


# --- web ----------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt: str, *args: object) -> None:
        sys.stderr.write("standin-web " + fmt % args + "\n")

    def reply(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path == "/api/healthz" and BROKEN:
            # Forgejo's health check: a failing check answers 424 with status fail
            self.reply(424, {"status": "fail", "description": "stand-in: broken release"})
        elif self.path == "/api/healthz":
            self.reply(200, {"status": "pass", "description": "Forgejo stand-in", "checks": {}})
        elif self.path in ("/api/v1/version", "/api/forgejo/v1/version"):
            self.reply(200, {"version": f"{VERSION}+gitea-1.22.0"})
        else:
            self.reply(404, {"message": "stand-in: not emulated"})

    def do_DELETE(self) -> None:
        """DELETE /api/v1/users/{user}/tokens/{name}: Basic auth only (reqBasicOrRevProxyAuth)."""
        parts = self.path.strip("/").split("/")
        if len(parts) != 6 or parts[:3] != ["api", "v1", "users"] or parts[4] != "tokens":
            self.reply(404, {"message": "stand-in: not emulated"})
            return
        user, token_name = parts[3], parts[5]
        header = self.headers.get("Authorization", "")
        try:
            login, _, password = (
                base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
            )
        except ValueError:
            login, password = "", ""
        data = db_load()
        known = data["users"].get(login)
        digest = hashlib.sha256(password.encode()).hexdigest()
        if not header.startswith("Basic ") or not known or known["password_sha256"] != digest:
            self.reply(401, {"message": "auth required"})
            return
        if data["tokens"].pop(f"{user}/{token_name}", None) is None:
            self.reply(404, {"message": "token not found"})
            return
        db_save(data)
        self.send_response(204)
        self.end_headers()

    def do_POST(self) -> None:
        if self.path != "/api/actions/runner.v1.RunnerService/Declare":
            self.reply(404, {"message": "stand-in: not emulated"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        runner_uuid = self.headers.get("x-runner-uuid", "")
        token = self.headers.get("x-runner-token", "")
        data = db_load()
        runner = data["runners"].get(runner_uuid)
        if not runner or runner["token_sha256"] != hashlib.sha256(token.encode()).hexdigest():
            self.reply(401, {"code": "unauthenticated", "message": "unregistered runner"})
            return
        runner.update(labels=body.get("labels", []), version=body.get("version", ""))
        runner["last_online"] = time.time()
        db_save(data)
        self.reply(200, {"runner": {"uuid": runner_uuid, "name": runner["name"]}})


def web() -> int:
    ini = load_ini()
    security = ini["security"] if ini.has_section("security") else {}
    if security.get("INSTALL_LOCK") == "true" and not security.get("INTERNAL_TOKEN"):
        ini["security"]["INTERNAL_TOKEN"] = secrets.token_urlsafe(79)
        save_ini(ini)
    if not security.get("SECRET_KEY"):
        print("WARNING: SECRET_KEY is empty: using the public default key", file=sys.stderr)
    time.sleep(1.0)  # the real web process needs a moment for its migrations
    migrate()
    port = int(ini.get("server", "HTTP_PORT", fallback="3000"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 - in a container
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"Forgejo stand-in {VERSION} listening on :{port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1: exit on `docker stop`
    while True:
        time.sleep(3600)


# --- CLI ------------------------------------------------------------------------------------


def flags(args: list[str], boolean: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            raise SystemExit(fail(f"stand-in: unexpected argument {arg!r}", 2))
        name, eq, value = arg.partition("=")
        name = name.lstrip("-")
        if eq:
            out[name] = value
        elif name in boolean:
            out[name] = "true"
        else:
            i += 1
            if i >= len(args):
                raise SystemExit(fail(f"flag needs an argument: {arg}", 2))
            out[name] = args[i]
        i += 1
    return out


def user_list(args: list[str]) -> int:
    opts = flags(args, {"admin"})
    users = db_load()["users"]
    print(f"{'ID':<5}{'Username':<16}{'Email':<28}{'IsActive':<9}{'IsAdmin':<8}2FA")
    for name, user in sorted(users.items(), key=lambda kv: kv[1]["id"]):
        if "admin" in opts and not user["admin"]:
            continue
        print(
            f"{user['id']:<5}{name:<16}{user['email']:<28}{'true':<9}{str(user['admin']).lower():<8}false"
        )
    return 0


def user_create(args: list[str]) -> int:
    opts = flags(
        args, {"admin", "random-password", "must-change-password", "restricted", "access-token"}
    )
    data = db_load()
    name = opts.get("username") or opts.get("name")
    if not name or not opts.get("email"):
        return fail("Command error: --username and --email are required")
    if name in data["users"]:
        return fail(f"Command error: CreateUser: user already exists [name: {name}]")
    if "password" not in opts and "random-password" not in opts:
        return fail("Command error: must set either password or random-password flag")
    first = not data["users"]
    must_change = opts.get("must-change-password", "false" if first else "true") == "true"
    data["users"][name] = {
        "id": len(data["users"]) + 1,
        "email": opts["email"],
        "admin": opts.get("admin") == "true",
        "must_change_password": must_change,
        "password_sha256": hashlib.sha256(opts.get("password", "").encode()).hexdigest(),
    }
    db_save(data)
    print(f"New user '{name}' has been successfully created!")
    return 0


def generate_token(args: list[str]) -> int:
    opts = flags(args, {"raw"})
    name = opts.get("username") or opts.get("u")
    token_name = opts.get("token-name") or opts.get("t") or "gitea-admin"
    data = db_load()
    if name not in data["users"]:
        return fail(f"Command error: user does not exist [uid: 0, name: {name}]")
    key = f"{name}/{token_name}"
    if key in data["tokens"]:
        return fail("Command error: access token name has been used already")
    token = secrets.token_hex(20)
    data["tokens"][key] = {
        "scopes": opts.get("scopes", "all"),
        "sha256": hashlib.sha256(token.encode()).hexdigest(),
    }
    db_save(data)
    print(token if "raw" in opts else f"Access token was successfully created: {token}")
    return 0


def actions_register(args: list[str]) -> int:
    opts = flags(args, {"secret-stdin", "keep-labels", "ephemeral"})
    if "secret-stdin" in opts:
        secret = sys.stdin.read().strip()
    elif "secret-file" in opts:
        secret = Path(opts["secret-file"]).read_text().strip()
    else:
        secret = opts.get("secret", "")
    if not re.fullmatch(r"[0-9a-fA-F]{40}", secret):
        return fail("Command error: secret must be 40 hexadecimal characters")
    data = db_load()
    runner_uuid = str(uuid.UUID(bytes=secret[:16].encode()))
    runner = data["runners"].get(runner_uuid, {"labels": []})
    if "labels" in opts:
        runner["labels"] = [label for label in opts["labels"].split(",") if label]
    elif "keep-labels" not in opts:
        runner["labels"] = []
    runner.update(
        name=opts.get("name", runner.get("name", "")),
        scope=opts.get("scope", ""),
        token_sha256=hashlib.sha256(secret.encode()).hexdigest(),
    )
    data["runners"][runner_uuid] = runner
    db_save(data)
    print(runner_uuid)
    return 0


def dump(args: list[str]) -> int:
    opts = flags(args, {"skip-repository", "skip-log", "quiet", "q"})
    target = Path(opts.get("file") or opts.get("f") or f"forgejo-dump-{int(time.time())}.zip")
    db_load()
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(WORK.rglob("*")):
            if path.is_file() and target.resolve() != path.resolve():
                archive.write(path, path.relative_to(WORK))
        archive.write(APP_INI, "app.ini")
    print(f"Finish dumping in file {target}")
    return 0


def cli(args: list[str]) -> int:
    if args[:1] in (["--version"], ["-v"]):
        print(f"Forgejo version {VERSION}+gitea-1.22.0 (stand-in)")
        return 0
    if os.getuid() == 0 and os.environ.get("I_AM_BEING_UNSAFE_RUNNING_AS_ROOT") != "true":
        return fail("Forgejo is not supposed to be run as root. Sorry.")
    if args[:1] == ["forgejo-cli"]:
        args = args[1:]
        if args[:2] == ["actions", "register"]:
            return actions_register(args[2:])
    handlers = {
        ("admin", "user", "list"): user_list,
        ("admin", "user", "create"): user_create,
        ("admin", "user", "generate-access-token"): generate_token,
    }
    handler = handlers.get(tuple(args[:3]))
    if handler:
        return handler(args[3:])
    if args[:1] == ["dump"]:
        return dump(args[1:])
    if args[:2] == ["generate", "secret"]:
        print(secrets.token_urlsafe(48))
        return 0
    if args[:1] == ["migrate"]:
        migrate()
        return 0
    if args in ([], ["web"]):
        return web()
    return fail(f"stand-in: unsupported command {args[:3]}", 2)


def main() -> int:
    program = Path(sys.argv[0]).name
    args = sys.argv[1:]
    record([program, *args])
    if program == "docker-entrypoint.sh":
        setup()
        return cli(args or ["web"])
    if program == "forgejo-cli":
        args = ["forgejo-cli", *args]
    return cli(args)


if __name__ == "__main__":
    sys.exit(main())
