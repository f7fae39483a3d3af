"""Compile a service's `tailscale:` key into a Tailscale sidecar container. Pure.

What it produces, and why (Tailscale's documented Serve and containerboot behaviour, and
the ways the hand-run sidecar broke before this stack existed):

- `<service>-tailscale`, the official `tailscale/tailscale` image (containerboot), sharing
  the service's network namespace (`network_mode: container:<service>`), so Serve proxies
  to `127.0.0.1:<port>` and nothing else is in between;
- its state in a named volume at `TS_STATE_DIR=/var/lib/tailscale` (required: without it
  every restart registers a duplicate node `name-1`, `name-2`…), `TS_AUTH_ONCE=true` so a node
  with state never logs in again;
- `TS_SERVE_CONFIG` pointing at a rendered `ipn.ServeConfig`: HTTPS on `${TS_CERT_DOMAIN}`
  (containerboot substitutes the node's MagicDNS name) proxying to the service, Funnel off;
- the auth key as a file (`TS_AUTHKEY=file:/run/secrets/tailscale-authkey`): a secret the
  Tailscale provider mints only when the node has no state (single-use, pre-authorised,
  tagged, short-lived) and keeps in memory; it is never in the environment, git or logs;
- the service itself listening on loopback (`listen: loopback`, the default): every listen
  address in its command, entrypoint and env is rewritten to 127.0.0.1, a service whose
  listen address cannot be found is refused, and publishing a served port is refused
  (:mod:`reconciler.providers.tailscale.loopback`). Only then can the service trust the
  `Tailscale-User-*` headers, because every request reaching it came through Serve, which
  clears and sets them. A service that must also be reachable by other containers on the
  stack network sets `listen: all` and must not trust those headers.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from factory_common.tailscale import hujson
from pydantic import BaseModel

from reconciler.kinds.base import CompileContext
from reconciler.providers.tailscale.config import TailscaleSidecar, parse_age
from reconciler.providers.tailscale.desired import SidecarNode
from reconciler.providers.tailscale.loopback import bind_loopback
from reconciler.resources import (
    Compiled,
    ContainerSpec,
    FileSpec,
    Mount,
    NodeLoginProbe,
    ProvidedSecret,
    SecretFile,
    SecretRequirement,
)

__all__ = [
    "AUTHKEY_PATH",
    "SERVE_CONFIG_PATH",
    "STATE_DIR",
    "SidecarNode",
    "authkey_secret_name",
    "compile_sidecar",
    "listened_ports",
    "serve_config",
]

STATE_DIR = "/var/lib/tailscale"
SERVE_CONFIG_PATH = "/etc/tailscale/serve.json"
AUTHKEY_PATH = "/run/secrets/tailscale-authkey"
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]*\]|[A-Za-z0-9.-]*):\d{1,5}$")


def authkey_secret_name(service: str) -> str:
    return f"ts-authkey-{service}"


def serve_config(serve: dict[int, int]) -> str:
    """`ipn.ServeConfig` JSON: HTTPS on the node's name for each served port."""
    tcp: dict[str, object] = {}
    web: dict[str, object] = {}
    funnel: dict[str, bool] = {}
    for outer, inner in sorted(serve.items()):
        host = f"${{TS_CERT_DOMAIN}}:{outer}"
        tcp[str(outer)] = {"HTTPS": True}
        web[host] = {"Handlers": {"/": {"Proxy": f"http://127.0.0.1:{inner}"}}}
        funnel[host] = False
    return json.dumps({"TCP": tcp, "Web": web, "AllowFunnel": funnel}, indent=2) + "\n"


def listened_ports(main: ContainerSpec) -> set[int]:
    """Ports the service says it listens on: container ports, healthcheck URL, --port, PORT,
    and the port of a host:port listen address (`--bind 0.0.0.0:8000`, `-b :8000`)."""
    ports = {p.container_port for p in main.ports}
    if main.healthcheck is not None:
        for part in main.healthcheck.test:
            ports |= {int(m) for m in re.findall(r"https?://[^/\"':]+:(\d+)", part)}
    command = [*(main.entrypoint or ()), *(main.command or ())]
    for index, arg in enumerate(command):
        value = command[index + 1] if index + 1 < len(command) else ""
        if arg == "--port" and value.isdigit():
            ports.add(int(value))
        elif arg.startswith("--port=") and arg[7:].isdigit():
            ports.add(int(arg[7:]))
        elif arg in ("--bind", "-b") and _HOST_PORT.match(value):
            ports.add(int(value.rsplit(":", 1)[1]))
        elif arg.startswith("--bind=") and _HOST_PORT.match(arg[7:]):
            ports.add(int(arg.rsplit(":", 1)[1]))
    port_env = main.env.get("PORT")
    if isinstance(port_env, str) and port_env.isdigit():
        ports.add(int(port_env))
    return ports


@lru_cache(maxsize=8)
def _declared_tags(path: Path, mtime: float) -> frozenset[str] | None:
    del mtime  # part of the cache key only
    try:
        value = hujson.parse(path.read_text(encoding="utf-8")).value
    except (OSError, UnicodeDecodeError, hujson.HuJSONError):
        return None  # the Tailnet document reports an unreadable policy itself
    owners = value.get("tagOwners") if isinstance(value, dict) else None
    return frozenset(owners or {})


def policy_tags(gitops_dir: Path) -> frozenset[str] | None:
    """Tags declared in gitops/tailscale/policy.hujson (None when there is no policy)."""
    path = gitops_dir / "tailscale" / "policy.hujson"
    if not path.is_file():
        return None
    return _declared_tags(path, path.stat().st_mtime)


def _check(sidecar: TailscaleSidecar, main: ContainerSpec, ctx: CompileContext) -> None:
    base = ("tailscale",)
    if sidecar.state_volume is None:
        ctx.error(
            base,
            "a Tailscale sidecar needs a persistent state volume: without one every restart "
            f"registers a duplicate node ({sidecar.hostname}-1, {sidecar.hostname}-2, …)",
            fix=f"add `state_volume: {main.name}-tailscale` under tailscale: and declare that "
            "volume under `volumes:` in gitops/stack.yaml",
        )
    elif sidecar.state_volume not in ctx.stack.volumes:
        ctx.error(
            (*base, "state_volume"),
            f"volume {sidecar.state_volume!r} is not declared in stack.yaml",
            fix=f"add `{sidecar.state_volume}:` under `volumes:` in gitops/stack.yaml",
        )
    if main.network_mode is not None:
        ctx.error(
            base,
            f"a service with network_mode {main.network_mode!r} cannot host a sidecar",
            fix="remove network_mode, or remove tailscale:",
        )
    declared = policy_tags(ctx.gitops_dir)
    if declared is not None:
        for index, tag in enumerate(sidecar.tags):
            if tag not in declared:
                known = ", ".join(sorted(declared)) or "none"
                ctx.error(
                    (*base, "tags", index),
                    f"{tag} is not declared in tagOwners of gitops/tailscale/policy.hujson "
                    "(the API would refuse to mint a key with it)",
                    fix=f'add "{tag}": ["autogroup:admin"] to tagOwners, or use one of: {known}',
                )
    listening = listened_ports(main)
    for outer, inner in sorted(sidecar.serve.items()):
        if inner not in listening:
            seen = ", ".join(str(p) for p in sorted(listening)) or "no port declared"
            ctx.error(
                (*base, "serve", outer),
                f"serve {outer} → {inner}, but {ctx.document} does not listen on {inner} "
                f"(it listens on: {seen})",
                fix="point serve at the port the service listens on, or declare it (a "
                "container port under ports:, a healthcheck http URL, or --port in command)",
            )
        if sidecar.listen == "loopback" and any(p.container_port == inner for p in main.ports):
            ctx.error(
                ("ports",),
                f"port {inner} is published, but with a Tailscale sidecar the service listens "
                "on loopback only (so the Tailscale-User-* headers can be trusted)",
                fix=f"remove the published port {inner}, or set `tailscale: {{listen: all}}` "
                "(then do not trust the identity headers)",
            )


def compile_sidecar(
    sidecar: TailscaleSidecar, main: ContainerSpec, ctx: CompileContext
) -> tuple[ContainerSpec, Compiled]:
    """The ServiceExtension compile for `tailscale:`."""
    _check(sidecar, main, ctx)
    loopback = bind_loopback(sidecar, main)
    for loc, message, fix in loopback.problems:
        ctx.error(loc, message, fix=fix)
    main = loopback.spec
    name = f"{main.name}-tailscale"
    secret = authkey_secret_name(main.name)
    env: dict[str, str] = {
        "TS_HOSTNAME": sidecar.hostname,
        "TS_STATE_DIR": STATE_DIR,
        "TS_AUTH_ONCE": "true",
        "TS_AUTHKEY": f"file:{AUTHKEY_PATH}",
        "TS_USERSPACE": "true",
        "TS_ACCEPT_DNS": "false",
        "TS_EXTRA_ARGS": "--advertise-tags=" + ",".join(sorted(sidecar.tags)),
    }
    files: tuple[FileSpec, ...] = ()
    if sidecar.serve:
        env["TS_SERVE_CONFIG"] = SERVE_CONFIG_PATH
        files = (
            FileSpec(
                target=SERVE_CONFIG_PATH,
                content=serve_config(sidecar.serve),
                origin=f"{ctx.document} tailscale.serve",
            ),
        )
    spec = ContainerSpec(
        name=name,
        image=sidecar.image,
        env=dict(sorted(env.items())),
        # an undeclared volume is reported once, by _check, at tailscale.state_volume
        mounts=(
            (Mount(target=STATE_DIR, volume=sidecar.state_volume),)
            if sidecar.state_volume in ctx.stack.volumes
            else ()
        ),
        files=files,
        secret_files=(SecretFile(secret=secret, target=AUTHKEY_PATH, mode=0o400),),
        network_mode=f"container:{main.name}",
        restart=main.restart if main.role == "service" else "unless-stopped",
        depends_on=(main.name,),
        owner=ctx.document,
        source=ctx.here("tailscale"),
    )
    requirement = SecretRequirement(
        name=secret,
        needed_by=(ctx.document,),
        generate=ProvidedSecret(by="tailscale", ephemeral=True),
        help="a one-time Tailscale auth key, minted by `gitops apply` when the node has no "
        "state; needs Tailscale credentials (see gitops/tailscale/tailnet.yaml)",
        source=ctx.here("tailscale"),
    )
    node = SidecarNode(
        service=main.name,
        container=name,
        hostname=sidecar.hostname,
        tags=tuple(sorted(sidecar.tags)),
        state_volume=sidecar.state_volume or "",
        secret=secret,
        key_expiry_seconds=int(parse_age(sidecar.key_expiry).total_seconds()),
        owner=ctx.document,
        source=ctx.here("tailscale"),
    )
    extra: dict[str, tuple[BaseModel, ...]] = {"tailscale": (node,)}
    if sidecar.state_volume:
        probe = NodeLoginProbe(
            container=name, volume=sidecar.state_volume, images_of=(name, main.name)
        )
        extra["docker"] = (probe,)
    return main, Compiled(containers=(spec,), secrets=(requirement,), extra=extra)
