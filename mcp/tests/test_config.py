"""Configuration errors name the variable and the fix; secrets never leak into reprs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from factory_mcp.config import ConfigError, load_settings
from factory_mcp.http_app import check_bind


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.factory_api_url == "http://127.0.0.1:8000"
    assert settings.tool_deadline_s == 45
    assert settings.source_deadline_s == 8
    assert settings.analytics_url is None


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        (
            {"FACTORY_API_URL": "factory:8000"},
            "FACTORY_API_URL='factory:8000' is not an http(s) URL",
        ),
        ({"ANALYTICS_URL": "ftp://x"}, "ANALYTICS_URL"),
        ({"FACTORY_MCP_DEADLINE": "soon"}, "FACTORY_MCP_DEADLINE='soon' is not a number"),
        ({"FACTORY_MCP_DEADLINE": "120"}, "use a value from 1 to 55"),
        ({"FACTORY_MCP_REQUEST_TIMEOUT": "40", "FACTORY_MCP_DEADLINE": "20"}, "exceeds"),
        ({"FACTORY_MCP_SOURCE_DEADLINE": "0"}, "use a value from 0.5 to 45"),
        (
            {
                "FACTORY_MCP_SOURCE_DEADLINE": "9",
                "FACTORY_MCP_DEADLINE": "5",
                "FACTORY_MCP_REQUEST_TIMEOUT": "5",
            },
            "one source must fit",
        ),
        ({"MCP_AUTH_TOKEN": "a", "MCP_AUTH_TOKEN_FILE": "/x"}, "both set"),
        ({"MCP_AUTH_TOKEN_FILE": "/nonexistent/token"}, "cannot read it"),
        ({"FACTORY_MCP_LOG_LEVEL": "LOUD"}, "FACTORY_MCP_LOG_LEVEL"),
    ],
)
def test_bad_values_are_explained(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        load_settings(env)
    assert fragment in str(caught.value)


def test_token_file_is_read_and_never_shown(tmp_path) -> None:
    path = tmp_path / "token"
    path.write_text("s3cret-token\n")
    settings = load_settings({"MCP_AUTH_TOKEN_FILE": str(path)})
    assert settings.auth_token is not None
    assert settings.auth_token.get_secret_value() == "s3cret-token"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize("name", ["MCP_AUTH_TOKEN", "ANALYTICS_TOKEN"])
@pytest.mark.parametrize("how", ["empty", "blank", "empty _FILE", "empty file"])
def test_a_secret_set_but_empty_is_an_error_not_no_secret(tmp_path, name: str, how: str) -> None:
    """The same rule as the reconciler and analytics (factory_common.env_secrets): an empty
    MCP_AUTH_TOKEN used to turn authentication off without a word."""
    empty_file = tmp_path / "token"
    empty_file.write_text("\n")
    env = {
        "empty": {name: ""},
        "blank": {name: "  "},
        "empty _FILE": {f"{name}_FILE": ""},
        "empty file": {f"{name}_FILE": str(empty_file)},
    }[how]
    with pytest.raises(ConfigError, match=name):
        load_settings(env)


def test_non_loopback_without_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="MCP_AUTH_TOKEN"):
        check_bind(load_settings({}), "0.0.0.0")
    check_bind(load_settings({}), "127.0.0.1")
    check_bind(load_settings({"MCP_AUTH_TOKEN": "t"}), "0.0.0.0")


def test_cli_exits_2_with_the_message() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "factory_mcp.cli",
            "--transport",
            "http",
            "--host",
            "0.0.0.0",
            "--check",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a bearer token" in result.stderr
    assert result.stdout == ""


def test_tool_allow_list_exposes_only_named_tools(scenario, analytics) -> None:
    from factory_mcp.server import build_server

    from .conftest import make_deps

    server = build_server(
        make_deps(scenario, analytics, {"FACTORY_MCP_TOOLS": "get_current_price, get_alerts"})
    )
    assert sorted(t.name for t in server._tool_manager.list_tools()) == [
        "get_alerts",
        "get_current_price",
    ]
    with pytest.raises(ConfigError, match="unknown tools: get_everything"):
        build_server(make_deps(scenario, analytics, {"FACTORY_MCP_TOOLS": "get_everything"}))
