"""Keep a service behind a Tailscale sidecar on loopback, and refuse what cannot be shown to.

Why: Serve clears and sets the ``Tailscale-User-*`` headers, so a service may trust them
only if Serve is the only way in: Tailscale documents the identity headers as trustworthy
only for a backend that listens on loopback or in the sidecar's shared network namespace. A
service listening on 0.0.0.0 is also reachable by every container on the stack network,
which could send forged headers.

What is rewritten to 127.0.0.1 (the port, when given, is kept: ``0.0.0.0:8000`` →
``127.0.0.1:8000``; a ``unix:`` socket is left alone, no network reaches it, and a form
that names no address, e.g. gunicorn's inherited ``fd://3``, is neither rewritten nor proof):

- in a declared ``command`` or ``entrypoint``: ``--host``, ``--bind``, ``--listen-host``
  (``--flag value`` and ``--flag=value``) and ``-b value`` when the value is an address
  (gunicorn, hypercorn: ``-b 0.0.0.0:8000``; an address is required so ``python3 -b -m …``,
  the interpreter's bytes-warning flag, is never touched);
- in declared ``env``: ``UVICORN_HOST`` (uvicorn reads every option from ``UVICORN_*``),
  ``GUNICORN_CMD_ARGS`` (gunicorn parses it as extra command-line flags), and ``HOST`` (the
  listen-host convention of many servers, e.g. Nuxt/Nitro and Node dev servers);
- what the sidecar declares: ``bind_env: NAME`` (set to 127.0.0.1, added when absent) or
  ``bind_flag: --name`` (a flag the command must contain).

Proof is required: with ``listen: loopback`` the compile refuses a service whose listen
address it did not set. Without a declared command the image's own CMD decides (often
0.0.0.0, invisible here), and a command without any listen flag proves nothing either.

Pure: specs in, specs and problems out.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from reconciler.providers.tailscale.config import TailscaleSidecar
from reconciler.resources import ContainerSpec, EnvValue

__all__ = ["HOST_ENV", "HOST_FLAGS", "LoopbackResult", "bind_loopback", "loopback_address"]

LOOPBACK = "127.0.0.1"
HOST_FLAGS = ("--host", "--bind", "--listen-host")
SHORT_BIND = "-b"
HOST_ENV = ("HOST", "UVICORN_HOST")
ARGS_ENV = ("GUNICORN_CMD_ARGS",)

_PORT = r"(?::\d{1,5})"
_ADDRESS = re.compile(
    r"^(?:unix:.+|\[[0-9A-Fa-f:.]*\]" + _PORT + r"?|[0-9.]+" + _PORT + r"?|:\d{1,5}"
    r"|[0-9A-Fa-f]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:]*|[A-Za-z0-9.-]+" + _PORT + r")$"
)


def loopback_address(value: str) -> str | None:
    """The same listen address on loopback: the port is kept, a unix socket unchanged;
    None for a form that names no address (``fd://3``)."""
    if value.startswith("unix:"):
        return value
    if "://" in value:
        return None
    if value.startswith("["):
        _host, _, rest = value[1:].partition("]")
        return f"{LOOPBACK}{rest}" if rest.startswith(":") else LOOPBACK
    if value.count(":") == 1:  # host:port (or :port)
        return f"{LOOPBACK}:{value.split(':', 1)[1]}"
    return LOOPBACK  # a host, or a bare IPv6 address such as ::


@dataclass
class LoopbackResult:
    """The rewritten spec, what was rewritten (the proof), and what could not be."""

    spec: ContainerSpec
    rewritten: list[str] = field(default_factory=list)  # e.g. "command --host", "env HOST"
    problems: list[tuple[tuple[str | int, ...], str, str]] = field(default_factory=list)


def _rewrite_args(
    args: tuple[str, ...], flags: tuple[str, ...], where: str, done: list[str]
) -> tuple[str, ...]:
    out = list(args)
    for index, arg in enumerate(out):
        following = out[index + 1] if index + 1 < len(out) else None
        takes_value = arg in flags or (arg == SHORT_BIND and _ADDRESS.match(following or ""))
        if takes_value and following is not None:
            rewritten = loopback_address(following)
            if rewritten is not None:
                out[index + 1] = rewritten
                done.append(f"{where} {arg}")
            continue
        for flag in flags:
            rewritten = loopback_address(arg[len(flag) + 1 :])
            if arg.startswith(flag + "=") and rewritten is not None:
                out[index] = f"{flag}={rewritten}"
                done.append(f"{where} {flag}")
    return tuple(out)


def _rewrite_env(
    env: dict[str, EnvValue], flags: tuple[str, ...], extra: str | None, done: list[str]
) -> dict[str, EnvValue]:
    out = dict(env)
    for name in (*HOST_ENV, *([extra] if extra else [])):
        value = out.get(name)
        rewritten = loopback_address(value) if isinstance(value, str) and value else None
        if rewritten is not None:
            out[name] = rewritten
            done.append(f"env {name}")
        elif name == extra and value is None:
            out[name] = LOOPBACK
            done.append(f"env {name}")
    for name in ARGS_ENV:
        value = out.get(name)
        if isinstance(value, str):
            before = len(done)
            args = _rewrite_args(tuple(shlex.split(value)), flags, f"env {name}", done)
            if len(done) > before:
                out[name] = shlex.join(args)
    return out


def bind_loopback(sidecar: TailscaleSidecar, main: ContainerSpec) -> LoopbackResult:
    """With ``listen: loopback``: rewrite every listen address found and require one."""
    bind_env, bind_flag = sidecar.bind_env, sidecar.bind_flag
    if sidecar.listen == "all":
        result = LoopbackResult(main)
        if bind_env or bind_flag:
            result.problems.append(
                (
                    ("tailscale", "bind_env" if bind_env else "bind_flag"),
                    "bind_env and bind_flag only apply with listen: loopback",
                    "remove it, or remove `listen: all`",
                )
            )
        return result
    flags = HOST_FLAGS + ((bind_flag,) if bind_flag else ())
    done: list[str] = []
    command = _rewrite_args(main.command, flags, "command", done) if main.command else None
    entrypoint = (
        _rewrite_args(main.entrypoint, flags, "entrypoint", done) if main.entrypoint else None
    )
    env = _rewrite_env(main.env, flags, bind_env, done)
    spec = main.model_copy(update={"command": command, "entrypoint": entrypoint, "env": env})
    result = LoopbackResult(spec, done)
    if bind_flag and not any(d.endswith(f" {bind_flag}") for d in done):
        result.problems.append(
            (
                ("tailscale", "bind_flag"),
                f"{bind_flag} is not in the service's command",
                f"add `{bind_flag} 0.0.0.0` (any address: it is rewritten to 127.0.0.1) to "
                "command:",
            )
        )
    elif main.command is None and main.entrypoint is None and not bind_env:
        result.problems.append(
            (
                ("tailscale", "listen"),
                "the service declares no command, so its image's own command decides where "
                "it listens (often 0.0.0.0): other containers on the stack network could "
                "reach it directly and send forged Tailscale-User-* headers",
                _FIX,
            )
        )
    elif not done:
        result.problems.append(
            (
                ("command",) if main.command is not None else ("entrypoint",),
                "the command sets no listen address (--host, --bind, --listen-host or -b) and "
                f"no {', '.join((*HOST_ENV, *ARGS_ENV))} is declared, so nothing shows the "
                "service listens on loopback only: other containers on the stack network "
                "could reach it directly and send forged Tailscale-User-* headers",
                _FIX,
            )
        )
    return result


_FIX = (
    "put the server's listen flag in command: with any address (e.g. `--host 0.0.0.0`; it is "
    "rewritten to 127.0.0.1), or declare `bind_env: NAME` or `bind_flag: --name` under "
    "tailscale: for the variable or flag the server reads its listen address from, or set "
    "`listen: all` under tailscale: and do not trust the identity headers"
)
