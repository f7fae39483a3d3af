"""The Forgejo kind's YAML model (gitops/forgejo/*.yaml).

Everything the factory's hand-run setup left implicit is a field here with a safe default:
the LTS rootless image, the install lock, registration closed, Actions on with a declared
DEFAULT_ACTIONS_URL, generated SECRET_KEY/INTERNAL_TOKEN, a backup volume. Keys that must
never be set by hand (SECRET_KEY, ROOT_URL…) are refused in `app_ini` with the field to use.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from reconciler.kinds.base import KindModel, StrictModel
from reconciler.resources import SecretRef
from reconciler.stack import NAME_PATTERN

from .versions import LTS_DEFAULT, parse_version

__all__ = ["PINNED_KEYS", "AdminUser", "Forgejo"]

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]
IniScalar = str | int | float | bool | SecretRef

# app.ini keys the kind always sets itself, and the field that controls each.
PINNED_KEYS: dict[tuple[str, str], str] = {
    ("security", "SECRET_KEY"): "secrets.secret_key (generated on first apply)",
    ("security", "INTERNAL_TOKEN"): "secrets.internal_token (generated on first apply)",
    ("security", "INSTALL_LOCK"): "nothing: the installer is always locked",
    ("server", "ROOT_URL"): "root_url",
    ("server", "DOMAIN"): "root_url (its host name)",
    ("server", "SSH_DOMAIN"): "ssh_domain",
    ("server", "HTTP_PORT"): "nothing: the container listens on 3000",
    ("server", "SSH_PORT"): "ports.ssh",
    ("server", "SSH_LISTEN_PORT"): "nothing: the rootless image listens on 2222",
    ("server", "START_SSH_SERVER"): "nothing: the rootless image runs its built-in SSH server",
    ("service", "DISABLE_REGISTRATION"): "registration_disabled",
    ("actions", "ENABLED"): "nothing: Actions are always enabled",
    ("actions", "DEFAULT_ACTIONS_URL"): "actions.default_actions_url",
}


class AdminUser(StrictModel):
    """The first admin, created by `forgejo admin user create` once Forgejo is healthy."""

    username: str = Field(default="factory-admin", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    password_secret: Name = Field(
        default="forgejo-admin-password",
        description="secret holding the password; generated on first apply if nobody sets it",
    )


class AutomationToken(StrictModel):
    """An access token of the admin, captured into a secret for later automation."""

    secret: Name = "forgejo-automation-token"  # noqa: S105 (a secret name)
    name: str = Field(default="gitops-automation", pattern=r"^[A-Za-z0-9_.-]+$")
    scopes: str = Field(default="all", pattern=r"^[a-z:,-]+$")


class Actions(StrictModel):
    default_actions_url: str = Field(
        default="https://data.forgejo.org",
        description="where `uses: owner/repo@ref` resolves: a URL, `github` or `self`",
    )

    @field_validator("default_actions_url")
    @classmethod
    def _url_or_keyword(cls, value: str) -> str:
        if value in ("github", "self") or value.startswith(("https://", "http://")):
            return value.rstrip("/")
        raise ValueError("expected an http(s) URL, `github` or `self`")


class Ports(StrictModel):
    """Host ports (published on the stack's publish_ip); null = not published."""

    http: int | None = Field(default=3000, ge=1, le=65535)
    ssh: int | None = Field(default=2222, ge=1, le=65535)


class Volumes(StrictModel):
    data: Name = "forgejo-data"
    config: Name = "forgejo-config"
    backup: Name = Field(
        default="forgejo-backups", description="`forgejo dump` archives before every upgrade"
    )


class Secrets(StrictModel):
    secret_key: Name = "forgejo-secret-key"  # noqa: S105 (a secret name)
    internal_token: Name = "forgejo-internal-token"  # noqa: S105 (a secret name)


class Forgejo(KindModel):
    """A Forgejo server: one container, its volumes, its secrets and bootstrap steps."""

    kind: Literal["Forgejo"]
    name: Name = "forgejo"
    image: str = Field(
        default="codeberg.org/forgejo/forgejo",
        pattern=r"^[a-z0-9./_-]+(:\d+)?[a-z0-9./_-]*$",
        description="repository without tag; the tag is `version` (+ `-rootless`)",
    )
    version: str = Field(default=LTS_DEFAULT, description="MAJOR[.MINOR[.PATCH]], quoted")
    rootless: Literal[True] = Field(
        default=True, description="only the rootless variant is supported (USER 1000:1000)"
    )
    root_url: str = Field(pattern=r"^https?://[^/\s]+/(?:[^\s]*/)?$")
    ssh_domain: str | None = None
    ports: Ports = Ports()
    volumes: Volumes = Volumes()
    secrets: Secrets = Secrets()
    admin: AdminUser
    automation_token: AutomationToken = AutomationToken()
    actions: Actions = Actions()
    registration_disabled: bool = True
    app_ini: dict[str, dict[str, IniScalar] | IniScalar] = Field(
        default_factory=dict,
        description="app.ini overrides: `section: {KEY: value}`; top-level scalars go to "
        "the DEFAULT section; `{secret: name}` values are passed as files",
    )
    health_timeout: float = Field(default=180.0, gt=0)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        parse_version(value)
        return value

    def sections(self) -> dict[str, dict[str, IniScalar]]:
        """app_ini as `{section: {KEY: value}}`, top-level scalars under "" (DEFAULT)."""
        out: dict[str, dict[str, IniScalar]] = {}
        for section, value in self.app_ini.items():
            if isinstance(value, dict):
                out.setdefault(section.lower(), {}).update(value)
            else:
                out.setdefault("", {})[section] = value
        return out
