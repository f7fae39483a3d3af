"""Registry compile on plain data: env, htpasswd as a computed secret, health, errors."""

from __future__ import annotations

from kinds_helpers import container, context, errors, secret
from reconciler.kinds import secret_function
from reconciler.kinds.registry import Registry, compile_registry
from reconciler.kinds.registry.htpasswd import render_htpasswd, verify_htpasswd_line
from reconciler.resources import ComputedSecret, GeneratedSecret

DOC = {
    "kind": "Registry",
    "name": "registry",
    "users": [
        {"name": "ci", "password_secret": "registry-ci-password"},
        {"name": "admin", "password_secret": "registry-admin-password", "generate_password": False},
    ],
}


def compiled(**overrides: object):
    ctx = context("Registry/registry")
    result = compile_registry(Registry.model_validate({**DOC, **overrides}), ctx)
    return result, ctx


def test_env_overrides_work_on_either_image() -> None:
    result, ctx = compiled()
    assert errors(ctx) == []
    spec = container(result, "registry")
    assert spec.image == "registry:2.8"
    assert spec.env == {
        "REGISTRY_AUTH": "htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM": "Chocolate Factory registry",
        "REGISTRY_AUTH_HTPASSWD_PATH": "/auth/htpasswd",
        "REGISTRY_HTTP_ADDR": ":5000",
        "REGISTRY_HTTP_DEBUG_ADDR": "127.0.0.1:5001",
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/var/lib/registry",
    }
    assert [(m.target, m.volume) for m in spec.mounts] == [("/var/lib/registry", "registry-data")]


def test_only_the_api_port_is_published_and_health_uses_the_private_debug_server() -> None:
    spec = container(compiled()[0], "registry")
    assert [(p.host_ip, p.host_port, p.container_port) for p in spec.ports] == [
        ("127.0.0.1", 5000, 5000)
    ]
    assert spec.healthcheck is not None
    assert spec.healthcheck.test == (
        "CMD",
        "wget",
        "-q",
        "-O",
        "/dev/null",
        "http://127.0.0.1:5001/debug/health",
    )


def test_htpasswd_is_a_computed_secret_file_of_every_user() -> None:
    result, _ = compiled()
    spec = container(result, "registry")
    assert [(f.secret, f.target) for f in spec.secret_files] == [
        ("registry-htpasswd", "/auth/htpasswd")
    ]
    how = secret(result, "registry-htpasswd").generate
    assert how == ComputedSecret(
        function="htpasswd",
        inputs={"ci": "registry-ci-password", "admin": "registry-admin-password"},
    )
    assert isinstance(secret(result, "registry-ci-password").generate, GeneratedSecret)
    assert secret(result, "registry-admin-password").generate is None


def test_htpasswd_function_is_bcrypt_and_deterministic() -> None:
    function = secret_function("htpasswd")
    text = function({"ci": "s3cret-pass", "admin": "other"}, {})
    assert text == function({"admin": "other", "ci": "s3cret-pass"}, {})
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["admin", "ci"]
    assert lines[1].split(":", 1)[1].startswith("$2b$10$")
    assert verify_htpasswd_line(lines[1], "ci", "s3cret-pass")
    assert not verify_htpasswd_line(lines[1], "ci", "wrong")
    # a changed password changes the file (and so the registry's spec hash)
    assert render_htpasswd({"ci": "new"}) != render_htpasswd({"ci": "s3cret-pass"})


def test_user_without_password_secret_is_an_error_with_the_fix() -> None:
    _, ctx = compiled(users=[{"name": "ci"}])
    [(path, message, fix)] = errors(ctx)
    assert path == "users[0]"
    assert message == "registry user 'ci' has no password_secret"
    assert "password_secret: registry-ci-password" in fix


def test_registry_3_config_path() -> None:
    assert Registry.model_validate({**DOC, "image": "registry:3"}).config_path == (
        "/etc/distribution/config.yml"
    )
    assert Registry.model_validate(DOC).config_path == "/etc/docker/registry/config.yml"
    assert Registry.model_validate({**DOC, "image": "localhost:5000/reg"}).major == 2


def test_delete_disabled_and_no_port() -> None:
    spec = container(compiled(delete_enabled=False, port=None)[0], "registry")
    assert spec.env["REGISTRY_STORAGE_DELETE_ENABLED"] == "false"
    assert spec.ports == ()
