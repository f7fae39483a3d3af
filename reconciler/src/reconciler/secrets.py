"""Secret values: resolved by name, generated when allowed, never shown.

Resolution order for a secret `name`: the environment variable NAME (upper-cased, non
alphanumerics → `_`), the dotenv file (stack `secrets.env_file`), then the file
`<secrets dir>/<name>`. An empty environment variable or dotenv entry counts as unset:
Forgejo Actions expands a secret that was never set to "", and a job must not deploy
an empty password (or generate over a real one) because of it.

Generatable secrets that are missing get a value in memory when the store is built (so the
plan's hashes are exact) and are written to the secrets dir (0700 dir, 0600 file) only when
apply executes their `generate-secret` action. Derived secrets are recomputed from their
base every time and never stored.

Values stay inside this object: `digest()` is what hashes and labels see, `redact()` scrubs
any text the executor is about to show.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets as csprng  # the stdlib module; this module is reconciler.secrets
import string
import tempfile
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import MissingSecret, SecretsError
from reconciler.resources import (
    ComputedSecret,
    DerivedSecret,
    GeneratedSecret,
    ProvidedSecret,
    SecretRequirement,
)

__all__ = ["SecretStore", "env_name", "read_dotenv"]

PENDING = "pending"
_DIGEST_ROUNDS = 20_000
_ALPHABETS = {
    "hex": "0123456789abcdef",
    "alnum": string.ascii_letters + string.digits,
    "urlsafe": string.ascii_letters + string.digits + "-_",
}


def env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `export `, comments, blank lines and single/double quotes handled."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


class SecretStore:
    """Implements providers.base.SecretValues for one project."""

    def __init__(
        self,
        project: str,
        requirements: tuple[SecretRequirement, ...],
        *,
        environ: Mapping[str, str],
        env_file: Path,
        secrets_dir: Path,
        resolve: bool = True,
    ) -> None:
        self.project = project
        self.requirements = {r.name: r for r in requirements}
        self.secrets_dir = secrets_dir
        self._environ = environ
        self._dotenv = read_dotenv(env_file)
        self._env_file = env_file
        self._values: dict[str, str] = {}
        self._origin: dict[str, str] = {}
        self._digests: dict[str, str] = {}
        self.to_generate: list[str] = []  # generated in memory, to be written by apply
        if resolve:
            self._resolve_all()

    # -- resolution -------------------------------------------------------------------
    def _lookup(self, name: str) -> tuple[str, str] | None:
        key = env_name(name)
        if self._environ.get(key):
            return self._environ[key], "environment"
        if self._dotenv.get(key):
            return self._dotenv[key], str(self._env_file)
        path = self.secrets_dir / name
        if path.is_file():
            return path.read_text(encoding="utf-8").rstrip("\r\n"), str(path)
        return None

    def _resolve_all(self) -> None:
        missing: list[MissingSecret] = []
        for name in sorted(self.requirements):
            self._resolve(name, missing, set())
        if missing:
            raise SecretsError(missing)

    def _resolve(self, name: str, missing: list[MissingSecret], seen: set[str]) -> str | None:
        if name in self._values:
            return self._values[name]
        req = self.requirements.get(name)
        found = self._lookup(name)
        if found is not None:
            self._values[name], self._origin[name] = found
            return found[0]
        how = req.generate if req else None
        if isinstance(how, GeneratedSecret):
            alphabet = _ALPHABETS[how.alphabet]
            self._values[name] = "".join(csprng.choice(alphabet) for _ in range(how.length))
            self._origin[name] = "generated"
            self.to_generate.append(name)
            return self._values[name]
        if isinstance(how, DerivedSecret):
            if name in seen:
                return None
            base = self._resolve(how.from_secret, missing, {*seen, name})
            if base is None:
                return None
            mac = hmac.new(base.encode(), how.context.encode(), hashlib.sha256).hexdigest()
            self._values[name] = (mac * (1 + how.length // len(mac)))[: how.length]
            self._origin[name] = f"derived from {how.from_secret}"
            return self._values[name]
        if isinstance(how, ComputedSecret):
            if name in seen:
                return None
            inputs = {
                arg: self._resolve(secret, missing, {*seen, name})
                for arg, secret in sorted(how.inputs.items())
            }
            if any(v is None for v in inputs.values()):
                return None
            from reconciler.kinds import secret_function

            function = secret_function(how.function)
            self._values[name] = function(
                {k: v for k, v in inputs.items() if v is not None}, how.params
            )
            self._origin[name] = f"computed by {how.function}"
            return self._values[name]
        if isinstance(how, ProvidedSecret):
            return None
        if all(m.name != name for m in missing):
            missing.append(
                MissingSecret(
                    name=name,
                    needed_by=req.needed_by if req else (),
                    how=self.how_to_provide(name),
                )
            )
        return None

    def how_to_provide(self, name: str) -> str:
        req = self.requirements.get(name)
        text = (
            f"set {env_name(name)} in the environment or in {self._env_file.name}, "
            f"or write it to {self.secrets_dir / name}"
        )
        if req is not None and req.help:
            text += f" ({req.help})"
        return text

    # -- SecretValues -----------------------------------------------------------------
    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def digest(self, name: str) -> str:
        value = self._values.get(name)
        if value is None:
            return PENDING
        cached = self._digests.get(name)
        if cached is None:
            salt = f"gitops:{self.project}:{name}".encode()
            raw = hashlib.pbkdf2_hmac("sha256", value.encode(), salt, _DIGEST_ROUNDS)
            cached = self._digests[name] = raw.hex()[:16]
        return cached

    def put(self, name: str, value: str, *, persist: bool) -> None:
        self._values[name] = value
        self._digests.pop(name, None)
        self._origin[name] = "apply"
        if persist:
            self.write(name)

    def is_ephemeral(self, name: str) -> bool:
        req = self.requirements.get(name)
        return (
            req is not None and isinstance(req.generate, ProvidedSecret) and req.generate.ephemeral
        )

    # -- persistence ------------------------------------------------------------------
    def write(self, name: str) -> Path:
        """Store a value in the secrets dir, owner-only, atomically (never overwritten
        by a partial file)."""
        value = self._values[name]
        self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.secrets_dir, 0o700)
        target = self.secrets_dir / name
        fd, tmp = tempfile.mkstemp(dir=self.secrets_dir, prefix=f".{name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(value + "\n")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._origin[name] = str(target)
        return target

    def redact(self, text: str) -> str:
        for value in sorted(self._values.values(), key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "••••••")
        return text
