"""Secrets (resolution order, generation, derivation, missing ones, redaction) and the
desired-spec hash (what changes it and what must not)."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest
from reconciler.errors import SecretsError
from reconciler.hashing import canonical_spec, spec_hash
from reconciler.resources import (
    DerivedSecret,
    FileSpec,
    GeneratedSecret,
    Limits,
    SecretRef,
    SecretRequirement,
)
from reconciler.secrets import SecretStore

from .helpers import spec, store


def make(
    tmp_path: Path, reqs: list[SecretRequirement], environ: dict[str, str] | None = None
) -> SecretStore:
    return SecretStore(
        "demo",
        tuple(reqs),
        environ=environ or {},
        env_file=tmp_path / ".env",
        secrets_dir=tmp_path / ".secrets",
    )


def test_resolution_order_is_environment_then_dotenv_then_secrets_dir(tmp_path: Path) -> None:
    (tmp_path / ".secrets").mkdir()
    (tmp_path / ".secrets" / "api_key").write_text("from-dir\n")
    (tmp_path / ".secrets" / "other").write_text("dir-only\n")
    (tmp_path / ".env").write_text("# comment\nexport API_KEY='from-dotenv'\n")
    reqs = [SecretRequirement(name=n, needed_by=("x",)) for n in ("api_key", "other")]
    assert make(tmp_path, reqs).get("api_key") == "from-dotenv"
    assert make(tmp_path, reqs, {"API_KEY": "from-env"}).get("api_key") == "from-env"
    assert make(tmp_path, reqs).get("other") == "dir-only"


def test_empty_environment_or_dotenv_value_counts_as_unset(tmp_path: Path) -> None:
    # Forgejo Actions passes a secret nobody set as "": it must not become the password.
    (tmp_path / ".secrets").mkdir()
    (tmp_path / ".secrets" / "api_key").write_text("from-dir\n")
    (tmp_path / ".env").write_text("API_KEY=\n")
    reqs = [SecretRequirement(name="api_key", needed_by=("x",))]
    assert make(tmp_path, reqs, {"API_KEY": ""}).get("api_key") == "from-dir"
    (tmp_path / ".secrets" / "api_key").unlink()
    with pytest.raises(SecretsError, match="secret 'api_key' is not set"):
        make(tmp_path, reqs, {"API_KEY": ""})


def test_missing_secret_names_who_needs_it_and_how_to_provide_it(tmp_path: Path) -> None:
    req = SecretRequirement(
        name="registry_password", needed_by=("Registry/registry",), help="pick a strong one"
    )
    with pytest.raises(SecretsError) as caught:
        make(tmp_path, [req])
    text = str(caught.value)
    assert "secret 'registry_password' is not set (needed by Registry/registry)" in text
    assert "set REGISTRY_PASSWORD in the environment or in .env" in text
    assert str(tmp_path / ".secrets" / "registry_password") in text
    assert "pick a strong one" in text


def test_generated_secret_lives_in_memory_until_written_0600(tmp_path: Path) -> None:
    req = SecretRequirement(
        name="key", needed_by=("x",), generate=GeneratedSecret(length=40, alphabet="hex")
    )
    first = make(tmp_path, [req])
    value = first.get("key")
    assert value is not None
    assert len(value) == 40
    assert set(value) <= set("0123456789abcdef")
    assert first.to_generate == ["key"]
    assert not (tmp_path / ".secrets").exists()
    written = first.write("key")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    again = make(tmp_path, [req])
    assert again.get("key") == value, "generated once, reused afterwards"
    assert again.to_generate == []


def test_derived_secret_is_hmac_of_its_base(tmp_path: Path) -> None:
    reqs = [
        SecretRequirement(name="base", needed_by=("x",)),
        SecretRequirement(
            name="runner-1",
            needed_by=("x",),
            generate=DerivedSecret(from_secret="base", context="runner:1", length=40),
        ),
    ]
    secrets = make(tmp_path, reqs, {"BASE": "s3cret"})
    expected = hmac.new(b"s3cret", b"runner:1", hashlib.sha256).hexdigest()[:40]
    assert secrets.get("runner-1") == expected


def test_redact_and_digest_never_reveal_values(tmp_path: Path) -> None:
    secrets = make(tmp_path, [SecretRequirement(name="pw", needed_by=("x",))], {"PW": "hunter22"})
    assert secrets.redact("login with hunter22 now") == "login with •••••• now"
    digest = secrets.digest("pw")
    assert "hunter22" not in digest
    assert len(digest) == 16
    assert secrets.digest("unknown") == "pending"


def test_hash_covers_spec_files_and_secrets_but_not_updatable_fields() -> None:
    one = store({"pw": "a"})
    two = store({"pw": "b"})
    base = spec(
        env={"B": "2", "A": SecretRef(secret="pw")},
        files=(FileSpec(target="/etc/x", content="1"),),
    )

    def digest(s, secrets=one):  # type: ignore[no-untyped-def]
        return spec_hash(canonical_spec(s, secrets))

    reordered = base.model_copy(update={"env": {"A": SecretRef(secret="pw"), "B": "2"}})
    assert digest(base) == digest(reordered)
    assert digest(base) != digest(base, two), "a rotated secret changes the hash"
    other_file = base.model_copy(update={"files": (FileSpec(target="/etc/x", content="2"),)})
    assert digest(base) != digest(other_file)
    updatable = base.model_copy(
        update={"restart": "always", "limits": Limits(memory_bytes=1 << 20), "image": "x:2"}
    )
    assert digest(base) == digest(updatable)
    canonical = canonical_spec(base, one)
    assert canonical["env"]["A"] == {"secret": "pw", "digest": one.digest("pw")}
    assert canonical["files"][0]["sha256"] == hashlib.sha256(b"1").hexdigest()
