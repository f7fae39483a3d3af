"""app.ini as nested YAML → Forgejo's `FORGEJO__section__KEY` environment (pure).

Why environment and not a mounted app.ini: the image's environment-to-ini rewrites app.ini
on every start from these variables, so the declared keys win at each
start and Forgejo keeps writing its own keys (e.g. generated JWT secrets) into the file on
its volume. Secret values become `FORGEJO__section__KEY__FILE=/run/secrets/<name>` with the
secret mounted as a file, so they never sit in the container's environment (`docker inspect`).

Encoding (modules/setting/config_env.go): the DEFAULT section is the empty name
(`FORGEJO____APP_NAME`), `.` is written `_0X2E_` and `-` is written `_0X2D_`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.resources import SecretRef

__all__ = ["SECRETS_DIR", "IniValue", "RenderedEnv", "env_name", "render_app_ini"]

SECRETS_DIR = "/run/secrets"
IniValue = str | int | float | bool | SecretRef
_SECTION = re.compile(r"^[A-Za-z0-9_.-]+$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class RenderedEnv:
    """Plain env vars, and the secrets that must be mounted at `SECRETS_DIR/<name>`."""

    env: dict[str, str]
    secret_files: tuple[str, ...]


def _encode(part: str) -> str:
    return part.replace(".", "_0X2E_").replace("-", "_0X2D_")


def env_name(section: str, key: str, *, file: bool = False) -> str:
    """`("log.console", "LEVEL")` → `FORGEJO__LOG_0X2E_CONSOLE__LEVEL`."""
    if section and not _SECTION.match(section):
        raise ValueError(f"invalid app.ini section name {section!r}")
    if not _KEY.match(key):
        raise ValueError(f"invalid app.ini key {key!r}")
    name = f"FORGEJO__{_encode(section).upper()}__{_encode(key)}"
    return f"{name}__FILE" if file else name


def _value(value: IniValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_app_ini(sections: Mapping[str, Mapping[str, IniValue]]) -> RenderedEnv:
    """Render `{section: {KEY: value}}` ("" = DEFAULT) in sorted, deterministic order."""
    env: dict[str, str] = {}
    secrets: list[str] = []
    for section in sorted(sections):
        for key in sorted(sections[section]):
            value = sections[section][key]
            if isinstance(value, SecretRef):
                env[env_name(section, key, file=True)] = f"{SECRETS_DIR}/{value.secret}"
                secrets.append(value.secret)
            else:
                env[env_name(section, key)] = _value(value)
    return RenderedEnv(env=env, secret_files=tuple(sorted(set(secrets))))
