"""Bad input in gitops/ is a validation error with file:line:col and the fix (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from reconciler.errors import ConfigError
from reconciler.project import load_project

from .stack import POLICY, Tree

APP = """\
kind: Service
name: app
image: chocolate-factory/base:bookworm
command: ["python3", "-m", "http.server", "--bind", "0.0.0.0", "8000"]
healthcheck:
  http: http://127.0.0.1:8000/
tailscale:
  hostname: app
  tags: [tag:app]
  state_volume: app-tailscale
  serve: {443: 8000}
"""


def problems(tree: Tree) -> list[str]:
    tree.write()
    with pytest.raises(ConfigError) as caught:
        load_project(tree.gitops)
    return [str(d) for d in caught.value.diagnostics]


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(
        root=tmp_path,
        api_url="http://127.0.0.1:9/api/v2",
        services={"app": APP},
        volumes=("app-tailscale",),
    )


def test_the_valid_tree_compiles(tree: Tree):
    tree.write()
    desired = load_project(tree.gitops).desired
    app = desired.container("app")
    sidecar = desired.container("app-tailscale")
    assert app.command == ("python3", "-m", "http.server", "--bind", "127.0.0.1", "8000")
    assert sidecar.network_mode == "container:app"
    assert sidecar.env["TS_AUTHKEY"] == "file:/run/secrets/tailscale-authkey"
    assert sidecar.env["TS_AUTH_ONCE"] == "true"
    assert [m.volume for m in sidecar.mounts] == ["app-tailscale"]
    assert "tskey" not in str(sidecar.model_dump())


def test_invalid_hujson_names_line_and_column(tree: Tree):
    tree.policy = POLICY.replace('"tag:app": ["tag:factory"],', '"tag:app": ["tag:factory"]')
    (found,) = problems(tree)
    assert found.startswith(
        "gitops/tailscale/policy.hujson:6:5: invalid HuJSON: expected ',' or '}'"
    )
    assert "(fix: add the missing comma between entries)" in found


def test_a_sidecar_tag_not_in_tag_owners(tree: Tree):
    tree.services = {"app": APP.replace("tags: [tag:app]", "tags: [tag:nobody]")}
    (found,) = problems(tree)
    assert found.startswith("gitops/services/app.yaml:9:10: tailscale.tags[0]: tag:nobody is not")
    assert (
        'fix: add "tag:nobody": ["autogroup:admin"] to tagOwners, or use one of: tag:app' in found
    )


def test_a_device_tag_not_in_tag_owners(tree: Tree):
    tree.devices = {"builder": ["tag:builder"]}
    (found,) = problems(tree)
    assert found.startswith("gitops/tailscale/tailnet.yaml:12:20: ")
    assert "devices.builder.tags[0]: tag:builder is not declared in tagOwners" in found


def test_a_policy_rule_using_an_undeclared_tag(tree: Tree):
    tree.policy = POLICY.replace('"dst": ["tag:app"]', '"dst": ["tag:web"]')
    (found,) = problems(tree)
    assert found.startswith("gitops/tailscale/policy.hujson:9:")
    assert "tag:web is used but not declared in tagOwners" in found
    assert 'fix: add "tag:web"' in found


def test_a_sidecar_without_a_state_volume(tree: Tree):
    tree.services = {"app": APP.replace("  state_volume: app-tailscale\n", "")}
    (found,) = problems(tree)
    assert found.startswith("gitops/services/app.yaml:8:3: tailscale: a Tailscale sidecar needs a ")
    assert "duplicate node (app-1, app-2, …)" in found
    assert "fix: add `state_volume: app-tailscale` under tailscale:" in found


def test_a_state_volume_not_declared_in_the_stack(tree: Tree):
    tree.volumes = ()
    (found,) = problems(tree)
    assert found.startswith("gitops/services/app.yaml:10:17: tailscale.state_volume: ")
    assert "add `app-tailscale:` under `volumes:` in gitops/stack.yaml" in found


def test_a_serve_port_the_service_does_not_listen_on(tree: Tree):
    tree.services = {"app": APP.replace("serve: {443: 8000}", "serve: {443: 8080}")}
    (found,) = problems(tree)
    assert found.startswith("gitops/services/app.yaml:11:")
    assert (
        "serve 443 → 8080, but Service/app does not listen on 8080 (it listens on: 8000)" in found
    )
    assert "fix: point serve at the port the service listens on" in found


def test_publishing_a_served_port_defeats_loopback(tree: Tree):
    tree.services = {"app": APP + 'ports: ["127.0.0.1:19080:8000"]\n'}
    (found,) = problems(tree)
    assert "app.yaml:12:" in found
    assert "port 8000 is published, but with a Tailscale sidecar the service listens" in found
    assert "listen: all" in found


def test_listen_all_keeps_the_service_on_every_interface(tree: Tree):
    listen_all = APP.replace("  serve: {443: 8000}\n", "  serve: {443: 8000}\n  listen: all\n")
    tree.services = {"app": listen_all + 'ports: ["127.0.0.1:19080:8000"]\n'}
    tree.write()
    app = load_project(tree.gitops).desired.container("app")
    assert "0.0.0.0" in (app.command or ())


def _service(command: str | None, *, env: str = "", tailscale: str = "") -> str:
    text = APP
    if command is None:
        text = text.replace(APP.splitlines()[3] + "\n", "")
    else:
        text = text.replace(APP.splitlines()[3], f"command: {command}")
    if env:
        text += f"env:\n{env}"
    return text.replace("  serve: {443: 8000}\n", f"  serve: {{443: 8000}}\n{tailscale}")


def compiled(tree: Tree, service: str):
    tree.services = {"app": service}
    tree.write()
    return load_project(tree.gitops).desired.container("app")


def test_a_service_without_a_command_cannot_be_shown_to_listen_on_loopback(tree: Tree):
    tree.services = {"app": _service(None, env="  HOST: 0.0.0.0\n")}
    (found,) = problems(tree)
    assert found.startswith("gitops/services/app.yaml:")
    assert "tailscale.listen: the service declares no command, so its image's own command" in found
    assert "forged Tailscale-User-* headers" in found
    assert "fix: put the server's listen flag in command:" in found
    assert "`bind_env: NAME` or `bind_flag: --name`" in found


def test_a_command_without_a_listen_address_is_refused(tree: Tree):
    tree.services = {"app": _service('["python3", "-m", "http.server", "8000"]')}
    (found,) = problems(tree)
    assert found.startswith("gitops/services/app.yaml:4:10: command: the command sets no listen")
    assert "HOST, UVICORN_HOST, GUNICORN_CMD_ARGS" in found


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            '["gunicorn", "-b", "0.0.0.0:8000", "app:app"]',
            ("gunicorn", "-b", "127.0.0.1:8000", "app:app"),
        ),
        (
            '["python3", "-b", "-m", "http.server", "--bind=0.0.0.0", "8000"]',
            ("python3", "-b", "-m", "http.server", "--bind=127.0.0.1", "8000"),
        ),
        (
            '["uvicorn", "app:app", "--host=::", "--port", "8000"]',
            ("uvicorn", "app:app", "--host=127.0.0.1", "--port", "8000"),
        ),
        (
            '["hypercorn", "app:app", "--bind", "[::]:8000"]',
            ("hypercorn", "app:app", "--bind", "127.0.0.1:8000"),
        ),
    ],
)
def test_listen_flags_in_every_form_are_rewritten(tree: Tree, command: str, expected: tuple):
    assert compiled(tree, _service(command)).command == expected


def test_listen_addresses_in_env_are_rewritten(tree: Tree):
    env = '  UVICORN_HOST: 0.0.0.0\n  GUNICORN_CMD_ARGS: "--bind=0.0.0.0:8000 --workers 2"\n'
    app = compiled(tree, _service('["uvicorn", "app:app", "--port", "8000"]', env=env))
    assert app.env["UVICORN_HOST"] == "127.0.0.1"
    assert app.env["GUNICORN_CMD_ARGS"] == "--bind=127.0.0.1:8000 --workers 2"
    assert app.command == ("uvicorn", "app:app", "--port", "8000")


def test_a_declared_bind_env_sets_the_address(tree: Tree):
    app = compiled(tree, _service(None, tailscale="  bind_env: APP_LISTEN\n"))
    assert app.env["APP_LISTEN"] == "127.0.0.1"
    app = compiled(
        tree,
        _service(None, env="  APP_LISTEN: 0.0.0.0:8000\n", tailscale="  bind_env: APP_LISTEN\n"),
    )
    assert app.env["APP_LISTEN"] == "127.0.0.1:8000"


def test_a_declared_bind_flag_is_rewritten_and_must_be_in_the_command(tree: Tree):
    flag = "  bind_flag: --addr\n"
    app = compiled(tree, _service('["server", "--addr", "0.0.0.0:8000"]', tailscale=flag))
    assert app.command == ("server", "--addr", "127.0.0.1:8000")
    tree.services = {"app": _service('["server", "--port", "8000"]', tailscale=flag)}
    (found,) = problems(tree)
    assert "tailscale.bind_flag: --addr is not in the service's command" in found
    assert "fix: add `--addr 0.0.0.0`" in found


def test_bind_env_and_bind_flag_exclude_each_other(tree: Tree):
    both = "  bind_env: APP_LISTEN\n  bind_flag: --addr\n"
    tree.services = {"app": _service('["server", "--addr", "x:1"]', tailscale=both)}
    (found,) = problems(tree)
    assert "declare bind_env or bind_flag, not both" in found


def test_bind_with_listen_all_is_a_mistake(tree: Tree):
    extra = "  listen: all\n  bind_env: APP_LISTEN\n"
    tree.services = {"app": _service(None, tailscale=extra)}
    (found,) = problems(tree)
    assert "tailscale.bind_env: bind_env and bind_flag only apply with listen: loopback" in found


def test_policy_that_is_not_utf8_is_one_error_at_its_line(tree: Tree):
    tree.write()
    policy = tree.gitops / "tailscale" / "policy.hujson"
    policy.write_bytes(POLICY.encode().replace(b"test tailnet", b"test tailn\xe9t", 1))
    with pytest.raises(ConfigError) as caught:
        load_project(tree.gitops)
    found = [str(d) for d in caught.value.diagnostics]
    assert len(found) == 1, found
    assert found[0].startswith("gitops/tailscale/policy.hujson:1:14: not UTF-8: byte 0xe9")
