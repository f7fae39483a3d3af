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
