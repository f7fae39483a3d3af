"""NAME or NAME_FILE: the one reader the Tailscale client and analytics share. An empty
value or file is an error naming the variable, never "no credentials"."""

from __future__ import annotations

from pathlib import Path

import pytest
from factory_common.env_secrets import EnvSecretError, read_env_secret
from factory_common.tailscale.api import ApiToken, credentials_from_env


def test_value_or_file_or_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("tskey-api-abc\n")
    assert read_env_secret("K", {"K": " tskey-api-abc "}) == "tskey-api-abc"
    assert read_env_secret("K", {"K_FILE": str(secret)}) == "tskey-api-abc"
    assert read_env_secret("K", {}) is None


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"K": "  "}, "K is set but empty"),
        ({"K_FILE": ""}, "K_FILE is set but empty"),
        ({"K": "x", "K_FILE": "/x"}, "both set"),
        ({"K_FILE": "/nonexistent/key"}, "cannot read it"),
    ],
)
def test_unusable_settings_are_errors(environ: dict[str, str], says: str) -> None:
    with pytest.raises(EnvSecretError, match=says):
        read_env_secret("K", environ)


def test_an_empty_tailscale_key_file_is_an_error_not_no_credentials(tmp_path: Path) -> None:
    empty = tmp_path / "tailscale_api_key"
    empty.write_text("\n")
    with pytest.raises(EnvSecretError, match=r"TAILSCALE_API_KEY_FILE=.*the file is empty"):
        credentials_from_env({"TAILSCALE_API_KEY_FILE": str(empty)})
    empty.write_text("tskey-api-xyz\n")
    found = credentials_from_env({"TAILSCALE_API_KEY_FILE": str(empty)})
    assert isinstance(found, ApiToken)
    assert credentials_from_env({}) is None
