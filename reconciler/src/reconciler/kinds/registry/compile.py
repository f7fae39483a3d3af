"""Registry document → one container, its storage volume and its secrets. Pure.

The configuration is passed as `REGISTRY_*` environment overrides on top of the image's own
config file, so the same container runs on the upstream `registry:2.8` and on the Debian-built
test image. The htpasswd file is a ComputedSecret (bcrypt lines from every user's password
secret, deterministic), mounted as a secret file: its digest is in the spec hash, so a changed
password recreates the registry, which reads the file only at start.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.kinds.base import CompileContext
from reconciler.kinds.service import apply_extensions, merge_compiled
from reconciler.resources import (
    Compiled,
    ComputedSecret,
    ContainerSpec,
    EnvValue,
    GeneratedSecret,
    Healthcheck,
    Mount,
    PortSpec,
    SecretFile,
    SecretRequirement,
    VolumeSpec,
)

from .htpasswd import render_htpasswd
from .model import Registry

__all__ = [
    "HTPASSWD_FUNCTION",
    "HTPASSWD_PATH",
    "REGISTRY_PORT",
    "STORAGE_DIR",
    "compile_registry",
    "htpasswd_function",
    "htpasswd_secret",
    "registry_env",
]

REGISTRY_PORT = 5000
STORAGE_DIR = "/var/lib/registry"
HTPASSWD_PATH = "/auth/htpasswd"
HTPASSWD_FUNCTION = "htpasswd"


def htpasswd_secret(doc: Registry) -> str:
    return f"{doc.name}-htpasswd"


def htpasswd_function(inputs: Mapping[str, str], params: Mapping[str, str]) -> str:
    """ComputedSecret function: `{user: password}` → the bcrypt htpasswd file."""
    return render_htpasswd(inputs)


def registry_env(doc: Registry, *, read_only: bool = False) -> dict[str, EnvValue]:
    """The REGISTRY_* overrides (distribution reads them over its config file)."""
    env: dict[str, EnvValue] = {
        "REGISTRY_AUTH": "htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM": doc.realm,
        "REGISTRY_AUTH_HTPASSWD_PATH": HTPASSWD_PATH,
        "REGISTRY_HTTP_ADDR": f":{REGISTRY_PORT}",
        # loopback only: /debug/vars and pprof stay out of reach of job containers
        "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{doc.debug_port}",
        "REGISTRY_STORAGE_DELETE_ENABLED": "true" if doc.delete_enabled else "false",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": STORAGE_DIR,
    }
    if read_only:
        env["REGISTRY_STORAGE_MAINTENANCE_READONLY"] = '{"enabled": true}'
    return env


def _users(doc: Registry, ctx: CompileContext) -> dict[str, str]:
    """`{user: password secret}`; a user without a secret is a diagnostic."""
    users: dict[str, str] = {}
    for index, user in enumerate(doc.users):
        if user.password_secret is None:
            ctx.error(
                ("users", index),
                f"registry user {user.name!r} has no password_secret",
                fix=f"add `password_secret: {doc.name}-{user.name}-password` (the value goes "
                "in the environment, .env or .secrets/, or is generated on first apply)",
            )
            continue
        users[user.name] = user.password_secret
    return users


def compile_registry(doc: Registry, ctx: CompileContext) -> Compiled:
    users = _users(doc, ctx)
    owner = (ctx.document,)
    secrets = [
        SecretRequirement(
            name=secret,
            needed_by=owner,
            generate=(
                GeneratedSecret(length=32, alphabet="alnum")
                if doc.users[index].generate_password
                else None
            ),
            help=f"password of registry user {user}",
            source=ctx.here("users", index),
        )
        for index, (user, secret) in enumerate(users.items())
    ]
    secrets.append(
        SecretRequirement(
            name=htpasswd_secret(doc),
            needed_by=owner,
            generate=ComputedSecret(function=HTPASSWD_FUNCTION, inputs=users),
            help="computed from the users' passwords; never set it by hand",
            source=ctx.here("users"),
        )
    )
    ports: tuple[PortSpec, ...] = ()
    if doc.port is not None:
        ports = (
            PortSpec(
                host_ip=ctx.stack.defaults.publish_ip,
                host_port=doc.port,
                container_port=REGISTRY_PORT,
            ),
        )
    health = f"http://127.0.0.1:{doc.debug_port}/debug/health"
    container = ContainerSpec(
        name=doc.name,
        image=doc.image,
        env=registry_env(doc),
        ports=ports,
        mounts=(Mount(target=STORAGE_DIR, volume=doc.volume),),
        secret_files=(SecretFile(secret=htpasswd_secret(doc), target=HTPASSWD_PATH, mode=0o400),),
        healthcheck=Healthcheck(
            test=("CMD", "wget", "-q", "-O", "/dev/null", health),
            interval_s=5.0,
            timeout_s=3.0,
            retries=3,
            start_period_s=2.0,
        ),
        networks=(ctx.stack.network,),
        health_timeout_s=doc.health_timeout,
        owner=ctx.document,
        source=ctx.here(),
    )
    # `tailscale:` (a sidecar giving the registry an HTTPS name on the tailnet)
    container, extra = apply_extensions(doc, container, ctx)
    own = Compiled(
        volumes=(VolumeSpec(name=doc.volume, source=ctx.here("volume")),),
        containers=(container,),
        secrets=tuple(secrets),
    )
    return merge_compiled(own, extra)
