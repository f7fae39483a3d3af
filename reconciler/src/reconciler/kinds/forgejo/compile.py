"""Forgejo document → container, volumes, secrets and bootstrap steps. Pure.

What it encodes (Forgejo's docs, rootless image):
- Environment: the always-pinned settings, then `app_ini`, as FORGEJO__section__KEY; the
  SECRET_KEY and INTERNAL_TOKEN (generated secrets, never empty: an empty SECRET_KEY
  silently falls back to a public default key) and any `{secret: …}` value as `__FILE`.
- Health: GET /api/healthz with the image's curl.
- Bootstrap, only once healthy: the backup volume made writable for UID 1000; the admin user
  (listed first, created only if absent); an automation token captured into a secret.
- Replacement: `forgejo dump` into the backup volume in the running container before any
  recreate, and a downgrade refused by version (ReplacePolicy).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from reconciler.kinds.base import CompileContext
from reconciler.kinds.service import apply_extensions, merge_compiled
from reconciler.resources import (
    BootstrapStep,
    Compiled,
    ContainerSpec,
    EnvValue,
    GeneratedSecret,
    Healthcheck,
    Mount,
    PortSpec,
    ProvidedSecret,
    ReplacePolicy,
    SecretFile,
    SecretRef,
    SecretRequirement,
    VolumeSpec,
)
from reconciler.validate import format_path

from .app_ini import SECRETS_DIR, env_name, render_app_ini
from .model import PINNED_KEYS, Forgejo
from .runner_markers import prune_pools_command, prune_pools_probe
from .versions import parse_version

__all__ = [
    "BACKUP_DIR",
    "HTTP_PORT",
    "SSH_PORT",
    "UID",
    "compile_forgejo",
    "internal_url",
    "pinned_sections",
]

UID = 1000  # the rootless image's USER 1000:1000
HTTP_PORT = 3000
SSH_PORT = 2222
DATA_DIR = "/var/lib/gitea"
CONFIG_DIR = "/etc/gitea"
BACKUP_DIR = "/var/lib/gitea-backups"
HEALTHZ = f"http://localhost:{HTTP_PORT}/api/healthz"


def internal_url(doc: Forgejo) -> str:
    """How other containers of the stack (runners, jobs) reach this Forgejo."""
    return f"http://{doc.name}:{HTTP_PORT}/"


def pinned_sections(doc: Forgejo) -> dict[str, dict[str, str | bool | SecretRef]]:
    """The settings the kind always sets, whatever app_ini says."""
    url = urlsplit(doc.root_url)
    domain = url.hostname or ""
    server: dict[str, str | bool | SecretRef] = {
        "ROOT_URL": doc.root_url,
        "DOMAIN": domain,
        "HTTP_PORT": str(HTTP_PORT),
        "START_SSH_SERVER": True,
        "SSH_LISTEN_PORT": str(SSH_PORT),
        "SSH_DOMAIN": doc.ssh_domain or domain,
    }
    if doc.ports.ssh is not None:
        server["SSH_PORT"] = str(doc.ports.ssh)
    return {
        "security": {
            "INSTALL_LOCK": True,
            "SECRET_KEY": SecretRef(secret=doc.secrets.secret_key),
            "INTERNAL_TOKEN": SecretRef(secret=doc.secrets.internal_token),
        },
        "server": server,
        "service": {"DISABLE_REGISTRATION": doc.registration_disabled},
        "actions": {"ENABLED": True, "DEFAULT_ACTIONS_URL": doc.actions.default_actions_url},
    }


def _check_app_ini(doc: Forgejo, ctx: CompileContext) -> bool:
    """Pinned keys and names environment-to-ini cannot express are diagnostics."""
    ok = True
    for section, keys in doc.app_ini.items():
        if not isinstance(keys, dict):
            keys, section = {section: keys}, ""
        for key in keys:
            try:
                env_name(section, key)
            except ValueError as exc:
                where = ("app_ini", section, key) if section else ("app_ini", key)
                ctx.error(where, str(exc), fix="use letters, digits, `_`, `.` and `-` only")
                ok = False
                continue
            field = PINNED_KEYS.get((section.lower(), key.upper()))
            if field:
                ctx.error(
                    ("app_ini", section, key),
                    f"{section}.{key} is set by the Forgejo kind itself",
                    fix=f"remove it from app_ini; use {field}",
                )
                ok = False
    return ok


def _secrets(doc: Forgejo, app_ini_secrets: tuple[str, ...], ctx: CompileContext) -> list:
    owner = (ctx.document,)
    generated = [
        (doc.secrets.secret_key, 64, "the key Forgejo encrypts 2FA secrets and tokens with"),
        (doc.secrets.internal_token, 64, "the token between Forgejo's hooks and web process"),
        (doc.admin.password_secret, 32, f"the password of the admin {doc.admin.username}"),
    ]
    requirements = [
        SecretRequirement(
            name=name,
            needed_by=owner,
            generate=GeneratedSecret(length=length, alphabet="alnum"),
            help=why,
            source=ctx.here(),
        )
        for name, length, why in generated
    ]
    requirements.append(
        SecretRequirement(
            name=doc.automation_token.secret,
            needed_by=owner,
            generate=ProvidedSecret(by=f"bootstrap:{doc.name}:automation-token"),
            help="captured from `forgejo admin user generate-access-token` on first apply",
            source=ctx.here("automation_token"),
        )
    )
    pinned = {r.name for r in requirements}
    where = _app_ini_references(doc)
    requirements += [
        SecretRequirement(
            name=name,
            needed_by=owner,
            help="referenced from app_ini; set it in the environment, .env or .secrets/",
            source=ctx.here(*where.get(name, ("app_ini",))),
            reference=format_path(where.get(name, ("app_ini",))),
        )
        for name in app_ini_secrets
        if name not in pinned
    ]
    return requirements


def _app_ini_references(doc: Forgejo) -> dict[str, tuple[str, ...]]:
    """Where in app_ini each `{secret: name}` is written (the first place, by name)."""
    found: dict[str, tuple[str, ...]] = {}
    for section, value in doc.app_ini.items():
        if isinstance(value, SecretRef):
            found.setdefault(value.secret, ("app_ini", section))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, SecretRef):
                    found.setdefault(item.secret, ("app_ini", section, key))
    return found


def _bootstrap(doc: Forgejo, ctx: CompileContext) -> tuple[BootstrapStep, ...]:
    admin = doc.admin
    token = doc.automation_token
    step = f"{doc.name}:"
    list_admins = "forgejo admin user list --admin | awk 'NR > 1 {print $2}' | grep -qxF -- \"$0\""
    create_admin = (
        'exec forgejo admin user create --admin --username "$0" --email "$1" '
        '--password "$FORGEJO_ADMIN_PASSWORD" --must-change-password=false'
    )
    # Tokens cannot be listed from the CLI and a used name is refused, so a token whose secret
    # was lost is first deleted through the API (Basic auth is required there), then minted.
    mint_token = (
        'curl -fsS -o /dev/null -X DELETE -u "$0:$FORGEJO_ADMIN_PASSWORD" '
        f'"http://localhost:{HTTP_PORT}/api/v1/users/$0/tokens/$1" 2>/dev/null || true; '
        'exec forgejo admin user generate-access-token --username "$0" --token-name "$1" '
        '--scopes "$2" --raw'
    )
    password: dict[str, EnvValue] = {
        "FORGEJO_ADMIN_PASSWORD": SecretRef(secret=admin.password_secret)
    }
    return (
        BootstrapStep(
            id=step + "backup-dir",
            container=doc.name,
            command=("chown", f"{UID}:{UID}", BACKUP_DIR),
            probe=("sh", "-c", f'test "$(stat -c %u {BACKUP_DIR})" = {UID}'),
            user="0",
            description=f"make the backup volume writable for UID {UID}",
            owner=ctx.document,
            source=ctx.here("volumes"),
        ),
        BootstrapStep(
            id=step + "admin-user",
            container=doc.name,
            command=("sh", "-c", create_admin, admin.username, admin.email),
            probe=("sh", "-c", list_admins, admin.username),
            env=password,
            description=f"create the admin user {admin.username}",
            owner=ctx.document,
            source=ctx.here("admin"),
        ),
        BootstrapStep(
            id=step + "automation-token",
            container=doc.name,
            command=("sh", "-c", mint_token, admin.username, token.name, token.scopes),
            env=password,
            capture_secret=token.secret,
            after=(step + "admin-user",),
            description=f"mint the access token {token.name} into secret {token.secret}",
            owner=ctx.document,
            source=ctx.here("automation_token"),
        ),
    )


def _prune_pools(doc: Forgejo, ctx: CompileContext) -> BootstrapStep:
    """Revoke the runners of pools removed from gitops/ (a pool's own prune step goes
    with its document, so only the Forgejo they registered with can still clean up). It
    touches only the marker folders of undeclared pools, so it needs no order relative to
    the pools' own prune steps."""
    declared = sorted(
        key.split("/", 1)[1]
        for key, other in ctx.documents.items()
        if key.startswith("RunnerPool/") and getattr(other, "forgejo", None) == doc.name
    )
    return BootstrapStep(
        id=f"{doc.name}:prune-runner-pools",
        container=doc.name,
        command=prune_pools_command(declared),
        probe=prune_pools_probe(declared),
        description="revoke the runners of pools no longer declared",
        revokes_runners=True,
        owner=ctx.document,
        source=ctx.here(),
    )


def compile_forgejo(doc: Forgejo, ctx: CompileContext) -> Compiled:
    if not _check_app_ini(doc, ctx):
        return Compiled()
    version = parse_version(doc.version)
    sections = doc.sections()
    for section, keys in pinned_sections(doc).items():
        sections.setdefault(section, {}).update(keys)
    rendered = render_app_ini(sections)
    ports = []
    publish_ip = ctx.stack.defaults.publish_ip
    if doc.ports.http is not None:
        ports.append(
            PortSpec(host_ip=publish_ip, host_port=doc.ports.http, container_port=HTTP_PORT)
        )
    if doc.ports.ssh is not None:
        ports.append(PortSpec(host_ip=publish_ip, host_port=doc.ports.ssh, container_port=SSH_PORT))
    volumes = doc.volumes
    container = ContainerSpec(
        name=doc.name,
        image=f"{doc.image}:{version.tag(doc.rootless)}",
        env=dict(rendered.env),
        ports=tuple(ports),
        mounts=(
            Mount(target=DATA_DIR, volume=volumes.data),
            Mount(target=CONFIG_DIR, volume=volumes.config),
            Mount(target=BACKUP_DIR, volume=volumes.backup),
        ),
        secret_files=tuple(
            SecretFile(secret=name, target=f"{SECRETS_DIR}/{name}", uid=UID, gid=UID)
            for name in rendered.secret_files
        ),
        healthcheck=Healthcheck(
            test=("CMD", "curl", "-fsS", "-o", "/dev/null", HEALTHZ),
            interval_s=5.0,
            timeout_s=5.0,
            retries=3,
            start_period_s=10.0,
        ),
        networks=(ctx.stack.network,),
        health_timeout_s=doc.health_timeout,
        stop_timeout_s=30,
        replace=ReplacePolicy(
            version=str(version),
            version_source=ctx.here("version"),
            downgrade_help=(
                f"Forgejo cannot open data migrated by a newer version; set `version` back to "
                f"the running one, or restore a `forgejo dump` from volume {volumes.backup}"
            ),
            before=(
                "sh",
                "-c",
                f'exec forgejo dump --type zip --file "{BACKUP_DIR}/forgejo-'
                '$(date -u +%Y%m%dT%H%M%SZ).zip"',
            ),
            before_description=f"back up with `forgejo dump` into volume {volumes.backup}",
        ),
        owner=ctx.document,
        source=ctx.here(),
    )
    # `tailscale:` (a sidecar giving Forgejo an HTTPS name on the tailnet)
    container, extra = apply_extensions(doc, container, ctx)
    own = Compiled(
        volumes=tuple(
            VolumeSpec(name=name, source=ctx.here("volumes"))
            for name in (volumes.data, volumes.config, volumes.backup)
        ),
        containers=(container,),
        bootstrap=(*_bootstrap(doc, ctx), _prune_pools(doc, ctx)),
        secrets=tuple(_secrets(doc, rendered.secret_files, ctx)),
    )
    return merge_compiled(own, extra)
