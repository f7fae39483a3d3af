"""The configuration file: defaults, validation errors with file:line, secrets from env."""

from __future__ import annotations

from pathlib import Path

import pytest
from factory_analytics.cli import main
from factory_analytics.config import ConfigError, load_config, read_token


def test_defaults_without_a_file() -> None:
    cfg = load_config(None, environ={})
    assert str(cfg.database) == "/data/analytics.db"
    assert (cfg.retention.raw_days, cfg.retention.rollup_days) == (30, 365)
    assert cfg.tailnet.interval_seconds == 300


def test_database_from_env(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"ANALYTICS_DB": str(tmp_path / "x.db")})
    assert cfg.database == tmp_path / "x.db"


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "analytics.yaml"
    path.write_text(
        "retention:\n"
        "  raw_days: 30\n"
        "logs:\n"
        "  - name: factory-api\n"
        "    container: chocolate_factory_brain\n"
        "  - name: sidecar\n"
        "    file: /var/log/nginx/access.log\n"
        "    format: apache\n"
        "probes:\n"
        "  - name: dash\n"
        "    url: factory-api:8000/dashboard/complete\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert f"{path}:8: logs.1.format" in message
    assert f"{path}:11: probes.0.url" in message


def test_a_source_needs_exactly_one_target(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("logs:\n  - name: x\n    container: a\n    file: /b\n")
    with pytest.raises(ConfigError, match="exactly one of"):
        load_config(path, environ={})


def test_duplicate_names_and_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("probes:\n  - {name: a, url: 'http://x/'}\n  - {name: a, url: 'http://y/'}\n")
    with pytest.raises(ConfigError, match="repeated: a"):
        load_config(path, environ={})
    path.write_text("retension: {raw_days: 3}\n")
    with pytest.raises(ConfigError, match=r"a.yaml:1: retension: Extra inputs"):
        load_config(path, environ={})


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("logs:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path, environ={})


def test_token_from_env_or_file(tmp_path: Path) -> None:
    assert read_token({}) is None
    assert read_token({"ANALYTICS_TOKEN": " abc \n"}).get_secret_value() == "abc"
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    token = read_token({"ANALYTICS_TOKEN_FILE": str(secret)})
    assert token.get_secret_value() == "from-file"
    assert "from-file" not in repr(token)
    with pytest.raises(ConfigError, match="cannot read"):
        read_token({"ANALYTICS_TOKEN_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize("content", ["", "\n", "  \n\t\n"])
def test_an_empty_token_file_is_an_error_naming_the_variable_and_the_file(
    tmp_path: Path, content: str
) -> None:
    # an empty secret must not silently mean "no token": that turns token auth off
    secret = tmp_path / "analytics_token"
    secret.write_text(content)
    with pytest.raises(ConfigError) as info:
        read_token({"ANALYTICS_TOKEN_FILE": str(secret)})
    assert f"ANALYTICS_TOKEN_FILE={secret}: the file is empty" in str(info.value)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ANALYTICS_TOKEN": ""}, "ANALYTICS_TOKEN is set but empty"),
        ({"ANALYTICS_TOKEN": "  \n"}, "ANALYTICS_TOKEN is set but empty"),
        ({"ANALYTICS_TOKEN_FILE": ""}, "ANALYTICS_TOKEN_FILE is set but empty"),
        ({"ANALYTICS_TOKEN": "a", "ANALYTICS_TOKEN_FILE": "/x"}, "are both set"),
    ],
)
def test_an_empty_or_ambiguous_token_variable_is_an_error(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        read_token(environ)


def test_serve_refuses_to_start_with_an_empty_token_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    secret = tmp_path / "analytics_token"
    secret.write_text("")
    monkeypatch.setenv("ANALYTICS_TOKEN_FILE", str(secret))
    monkeypatch.delenv("ANALYTICS_TOKEN", raising=False)
    path = tmp_path / "a.yaml"
    path.write_text(f"database: {tmp_path / 'a.db'}\n")
    assert main(["--config", str(path), "serve", "--port", "1"]) == 1
    err = capsys.readouterr().err
    assert "ANALYTICS_TOKEN_FILE" in err
    assert str(secret) in err


def test_cli_reports_config_errors_with_exit_1(tmp_path: Path, capsys) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("retention: {raw_days: 0}\n")
    assert main(["--config", str(path), "check"]) == 1
    assert "retention.raw_days" in capsys.readouterr().err
    path.write_text(f"database: {tmp_path / 'db' / 'a.db'}\n")
    assert main(["--config", str(path), "migrate"]) == 0
    assert (tmp_path / "db" / "a.db").exists()


def test_without_tailscale_credentials_the_gap_explains_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory_analytics.service import Service
    from factory_analytics.store.db import open_database
    from factory_analytics.store.state_queries import collector_status

    for name in ("TAILSCALE_API_KEY", "TAILSCALE_API_KEY_FILE", "TAILSCALE_OAUTH_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "a.yaml"
    path.write_text(f"database: {tmp_path / 'a.db'}\nsystem: {{enabled: false}}\n")
    service = Service(load_config(path, environ={}))
    assert [t.name for t in service.tasks] == ["retention"]
    service.stop()
    conn = open_database(tmp_path / "a.db")
    _, error, _ = collector_status(conn, "tailnet")
    conn.close()
    assert "TAILSCALE_API_KEY" in error


def test_the_deployed_configuration_is_valid() -> None:
    # the stack's own file (gitops/services/analytics-config.yaml), the reference for every key
    example = Path(__file__).parents[2] / "gitops" / "services" / "analytics-config.yaml"
    cfg = load_config(example, environ={})
    assert [s.name for s in cfg.logs] == ["factory-api", "mcp"]
    assert cfg.probes[0].timeout_seconds == 45
    assert "docker-gateway" in cfg.auth.trusted_networks  # the host's widget, via 127.0.0.1:8101
