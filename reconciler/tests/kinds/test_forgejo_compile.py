"""Forgejo compile on plain data: rendered env, secrets as files, bootstrap commands, order."""

from __future__ import annotations

import pytest
from kinds_helpers import container, context, errors, secret, step
from pydantic import ValidationError
from reconciler.kinds.forgejo import Forgejo, compile_forgejo, parse_version
from reconciler.kinds.forgejo.app_ini import env_name, render_app_ini
from reconciler.resources import GeneratedSecret, ProvidedSecret, SecretRef

BASE = {
    "kind": "Forgejo",
    "name": "forgejo",
    "root_url": "https://git.factory.example/",
    "admin": {"username": "factory-admin", "email": "admin@factory.example"},
}


def forgejo(**overrides: object) -> Forgejo:
    return Forgejo.model_validate({**BASE, **overrides})


def compiled(**overrides: object):
    ctx = context("Forgejo/forgejo")
    result = compile_forgejo(forgejo(**overrides), ctx)
    assert errors(ctx) == []
    return result


def test_env_names_follow_environment_to_ini_encoding() -> None:
    assert env_name("", "APP_NAME") == "FORGEJO____APP_NAME"
    assert env_name("log.console", "LEVEL") == "FORGEJO__LOG_0X2E_CONSOLE__LEVEL"
    assert env_name("cron.update-checker", "ENABLED") == (
        "FORGEJO__CRON_0X2E_UPDATE_0X2D_CHECKER__ENABLED"
    )
    assert env_name("mailer", "PASSWD", file=True) == "FORGEJO__MAILER__PASSWD__FILE"
    with pytest.raises(ValueError, match="section"):
        env_name("bad section", "KEY")


def test_render_app_ini_values_and_secrets_are_files() -> None:
    rendered = render_app_ini(
        {
            "": {"APP_NAME": "Chocolate Factory"},
            "mailer": {"ENABLED": True, "PASSWD": SecretRef(secret="smtp-password")},
            "repository": {"MAX_CREATION_LIMIT": 5},
        }
    )
    assert rendered.env == {
        "FORGEJO____APP_NAME": "Chocolate Factory",
        "FORGEJO__MAILER__ENABLED": "true",
        "FORGEJO__MAILER__PASSWD__FILE": "/run/secrets/smtp-password",
        "FORGEJO__REPOSITORY__MAX_CREATION_LIMIT": "5",
    }
    assert rendered.secret_files == ("smtp-password",)


def test_pinned_settings_are_always_rendered() -> None:
    spec = container(compiled(), "forgejo")
    env = spec.env
    assert env["FORGEJO__SECURITY__INSTALL_LOCK"] == "true"
    assert env["FORGEJO__SECURITY__SECRET_KEY__FILE"] == "/run/secrets/forgejo-secret-key"
    assert env["FORGEJO__SECURITY__INTERNAL_TOKEN__FILE"] == "/run/secrets/forgejo-internal-token"
    assert env["FORGEJO__SERVER__ROOT_URL"] == "https://git.factory.example/"
    assert env["FORGEJO__SERVER__DOMAIN"] == "git.factory.example"
    assert env["FORGEJO__SERVER__SSH_PORT"] == "2222"
    assert env["FORGEJO__SERVICE__DISABLE_REGISTRATION"] == "true"
    assert env["FORGEJO__ACTIONS__ENABLED"] == "true"
    assert env["FORGEJO__ACTIONS__DEFAULT_ACTIONS_URL"] == "https://data.forgejo.org"
    # no secret value (or any SecretRef) sits in the environment itself
    assert not any(isinstance(v, SecretRef) for v in env.values())
    assert not any(k.endswith(("SECRET_KEY", "INTERNAL_TOKEN")) for k in env)


def test_secret_key_and_internal_token_are_generated_never_empty() -> None:
    result = compiled()
    for name in ("forgejo-secret-key", "forgejo-internal-token", "forgejo-admin-password"):
        how = secret(result, name).generate
        assert isinstance(how, GeneratedSecret)
        assert how.length >= 32
    token = secret(result, "forgejo-automation-token").generate
    assert token == ProvidedSecret(by="bootstrap:forgejo:automation-token")
    files = {f.secret: f for f in container(result, "forgejo").secret_files}
    assert set(files) == {"forgejo-secret-key", "forgejo-internal-token"}
    assert all(f.uid == 1000 and f.mode == 0o400 for f in files.values())


def test_image_is_the_lts_rootless_variant_by_default() -> None:
    spec = container(compiled(), "forgejo")
    assert spec.image == "codeberg.org/forgejo/forgejo:15-rootless"
    assert container(compiled(version="11.0"), "forgejo").image.endswith(":11.0-rootless")


def test_health_ports_volumes() -> None:
    spec = container(compiled(), "forgejo")
    assert spec.healthcheck is not None
    assert spec.healthcheck.test[-1] == "http://localhost:3000/api/healthz"
    assert [(p.host_ip, p.host_port, p.container_port) for p in spec.ports] == [
        ("127.0.0.1", 3000, 3000),
        ("127.0.0.1", 2222, 2222),
    ]
    assert {m.target: m.volume for m in spec.mounts} == {
        "/var/lib/gitea": "forgejo-data",
        "/etc/gitea": "forgejo-config",
        "/var/lib/gitea-backups": "forgejo-backups",
    }
    assert spec.networks == ("factory",)


def test_app_ini_overrides_and_secrets() -> None:
    result = compiled(
        app_ini={
            "APP_NAME": "Factory",
            "mailer": {"ENABLED": True, "PASSWD": {"secret": "smtp-password"}},
            "log.console": {"LEVEL": "warn"},
        }
    )
    spec = container(result, "forgejo")
    assert spec.env["FORGEJO____APP_NAME"] == "Factory"
    assert spec.env["FORGEJO__LOG_0X2E_CONSOLE__LEVEL"] == "warn"
    assert spec.env["FORGEJO__MAILER__PASSWD__FILE"] == "/run/secrets/smtp-password"
    assert "smtp-password" in {f.secret for f in spec.secret_files}
    requirement = secret(result, "smtp-password")
    assert requirement.generate is None  # a person provides it
    assert requirement.help


def test_pinned_keys_in_app_ini_are_errors_with_the_field_to_use() -> None:
    ctx = context("Forgejo/forgejo")
    compile_forgejo(
        forgejo(app_ini={"security": {"SECRET_KEY": "x"}, "server": {"ROOT_URL": "http://a/"}}),
        ctx,
    )
    problems = errors(ctx)
    assert [p[0] for p in problems] == ["app_ini.security.SECRET_KEY", "app_ini.server.ROOT_URL"]
    assert "secrets.secret_key" in problems[0][2]
    assert "root_url" in problems[1][2]


def test_bootstrap_admin_is_probed_then_created_with_password_from_env() -> None:
    result = compiled()
    admin = step(result, "forgejo:admin-user")
    assert admin.container == "forgejo"
    assert admin.probe is not None
    assert "admin user list --admin" in admin.probe[2]
    assert admin.probe[3:] == ("factory-admin",)
    assert "admin user create --admin" in admin.command[2]
    assert '--password "$FORGEJO_ADMIN_PASSWORD"' in admin.command[2]
    assert admin.command[3:] == ("factory-admin", "admin@factory.example")
    assert admin.env == {"FORGEJO_ADMIN_PASSWORD": SecretRef(secret="forgejo-admin-password")}
    assert admin.user is None  # Forgejo refuses to run as root


def test_automation_token_is_captured_after_the_admin_exists() -> None:
    token = step(compiled(), "forgejo:automation-token")
    assert token.capture_secret == "forgejo-automation-token"
    assert token.after == ("forgejo:admin-user",)
    assert "generate-access-token" in token.command[2]
    assert "--raw" in token.command[2]
    assert token.command[3:] == ("factory-admin", "gitops-automation", "all")


def test_backup_dir_is_made_writable_as_root_once() -> None:
    chown = step(compiled(), "forgejo:backup-dir")
    assert chown.user == "0"
    assert chown.command == ("chown", "1000:1000", "/var/lib/gitea-backups")


def test_replacement_backs_up_and_carries_the_version() -> None:
    policy = container(compiled(version="15.0.2"), "forgejo").replace
    assert policy is not None
    assert policy.version == "15.0.2"
    assert policy.before is not None
    assert "forgejo dump" in policy.before[2]
    assert "/var/lib/gitea-backups/" in policy.before[2]
    assert "forgejo-backups" in (policy.downgrade_help or "")


def test_compile_is_deterministic() -> None:
    assert compiled(app_ini={"b": {"X": 1}, "a": {"Y": 2}}) == compiled(
        app_ini={"a": {"Y": 2}, "b": {"X": 1}}
    )


@pytest.mark.parametrize(
    ("old", "new", "downgrade"),
    [
        ("11.0", "15", False),
        ("15", "11.0", True),
        ("15.0.2", "15.0.1", True),
        ("15.1", "15.0.9", True),
        ("15", "15.0.1", False),
        ("15.0.1", "15.0.1", False),
    ],
)
def test_downgrade_detection(old: str, new: str, downgrade: bool) -> None:
    assert parse_version(new).is_downgrade_from(parse_version(old)) is downgrade


def test_runner_flow_follows_the_version() -> None:
    assert not parse_version("14.0").connections_in_config
    assert parse_version("15").connections_in_config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", "latest"),
        ("root_url", "git.factory.example"),
        ("rootless", False),
        ("unknown_key", 1),
    ],
)
def test_bad_input_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        forgejo(**{field: value})


def test_names_environment_to_ini_cannot_express_are_errors() -> None:
    ctx = context("Forgejo/forgejo")
    result = compile_forgejo(forgejo(app_ini={"bad section": {"KEY": 1}, "ok": {"K Y": 2}}), ctx)
    assert result.containers == ()
    assert [p[0] for p in errors(ctx)] == ["app_ini.bad section.KEY", "app_ini.ok.K Y"]


def test_runners_of_pools_removed_from_gitops_are_pruned_by_forgejo() -> None:
    from reconciler.kinds.runners import RunnerPool

    pool = RunnerPool.model_validate(
        {"kind": "RunnerPool", "name": "deploy", "labels": ["x:host"], "docker": {}}
    )
    other = RunnerPool.model_validate(
        {
            "kind": "RunnerPool",
            "name": "elsewhere",
            "forgejo": "git2",
            "labels": ["x:host"],
            "docker": {},
        }
    )
    ctx = context(
        "Forgejo/forgejo",
        {"RunnerPool/deploy": pool, "RunnerPool/elsewhere": other},
    )
    prune = step(compile_forgejo(forgejo(), ctx), "forgejo:prune-runner-pools")
    # only pools registered with *this* Forgejo count as declared
    assert prune.command[3:] == ("prune-pools", "deploy")
    assert prune.probe is not None
    assert prune.probe[3:] == ("prune-pools", "deploy")
    assert prune.after == ()
    assert '--scope "$scope"' in prune.command[2]
    alone = step(compiled(), "forgejo:prune-runner-pools")
    assert alone.command[3:] == ("prune-pools",)
