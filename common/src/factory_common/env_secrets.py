"""`NAME` or `NAME_FILE`: how a container is handed a secret through its environment.

One reader for every process that takes secrets this way (the Tailscale client in the
reconciler and in analytics, analytics' own token), so they all refuse the same mistakes.
Set but empty is an error, never "no secret": an empty token file (a secret written before
its value existed, a wrong mount) would otherwise quietly turn a credential off, and a
variable holding only whitespace is a typo, not a choice. Both set is ambiguous, so it is an
error too (the convention of the official Docker images). Messages name the variables and
the file, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = ["EnvSecretError", "read_env_secret"]


class EnvSecretError(ValueError):
    """A secret variable (or its file) is set but unusable; the message says how to fix it."""


def read_env_secret(name: str, environ: Mapping[str, str]) -> str | None:
    """`NAME`, or the content of the file named by `NAME_FILE` (surrounding whitespace
    stripped); None when neither variable is set."""
    file_var = f"{name}_FILE"
    direct, file_name = environ.get(name), environ.get(file_var)
    if direct is not None and file_name is not None:
        raise EnvSecretError(f"{name} and {file_var} are both set; set one of them")
    if direct is not None:
        if not direct.strip():
            raise EnvSecretError(
                f"{name} is set but empty; give it the secret's value, or unset it"
                f" (or use {file_var})"
            )
        return direct.strip()
    if file_name is None:
        return None
    if not file_name.strip():
        raise EnvSecretError(f"{file_var} is set but empty; give it the path of the secret's file")
    try:
        value = Path(file_name).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise EnvSecretError(f"{file_var}={file_name}: cannot read it: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise EnvSecretError(f"{file_var}={file_name}: not UTF-8 text: {exc.reason}") from exc
    if not value:
        raise EnvSecretError(
            f"{file_var}={file_name}: the file is empty; write the secret into it, or unset"
            f" {file_var}"
        )
    return value
