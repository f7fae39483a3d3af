"""Loading and validation on plain files: every error carries file:line:col, the YAML path,
what is wrong and the fix when obvious; several problems are reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from reconciler.errors import ConfigError
from reconciler.project import load_project

from .helpers import write_tree


def problems(tmp_path: Path, files: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_project(write_tree(tmp_path, files))
    return [str(d) for d in caught.value.diagnostics]


def test_a_valid_tree_compiles_to_sorted_containers(tmp_path: Path) -> None:
    project = load_project(
        write_tree(
            tmp_path,
            {
                "services/b.yaml": "kind: Service\nname: b\nimage: x:1\n",
                "services/a.yaml": "kind: Service\nname: a\nimage: x:1\nports: ['8080:80']\n",
            },
        )
    )
    desired = project.desired
    assert [c.name for c in desired.containers] == ["a", "b"]
    port = desired.containers[0].ports[0]
    assert (port.host_ip, port.host_port, port.container_port) == ("127.0.0.1", 8080, 80)
    assert desired.containers[0].networks == ("net",)
    assert str(desired.containers[0].source) == "gitops/services/a.yaml:1:1"


def test_bad_port_points_at_the_item_with_the_expected_forms(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {"services/f.yaml": "kind: Service\nname: f\nimage: x:1\nports:\n  - '3000'\n"},
    )
    assert found == [
        "gitops/services/f.yaml:5:5: ports[0]: "
        'expected "[IP:]HOST:CONTAINER[/tcp|udp]" or a mapping, got "3000"'
    ]


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    found = problems(tmp_path, {"services/f.yaml": "kind: Service\nname: f\nimgae: x:1\n"})
    assert (
        "gitops/services/f.yaml:3:1: imgae: unknown key 'imgae' (fix: did you mean 'image'?)"
        in found
    )
    assert "gitops/services/f.yaml:1:1: image: required key 'image' is missing" in found


def test_nested_unknown_key_and_number_in_env_are_both_reported(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/f.yaml": (
                "kind: Service\nname: f\nimage: x:1\nenv:\n  PORT: 8000\n"
                "healthcheck:\n  http: http://x/healthz\n  intervall: 3\n"
            )
        },
    )
    assert any(
        p.startswith("gitops/services/f.yaml:5:9: env.PORT: expected a string or {secret: NAME}")
        and 'fix: quote it: "8000"' in p
        for p in found
    ), found
    assert any("8:3: healthcheck.intervall: unknown key" in p and "'interval'" in p for p in found)


def test_problems_in_several_files_come_together(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/a.yaml": "kind: Service\nname: a\nimage: x:1\nrestart: sometimes\n",
            "services/b.yaml": "kind: Servce\nname: b\n",
        },
    )
    assert len(found) == 2
    assert found[0].startswith("gitops/services/a.yaml:4:10: restart: Input should be")
    assert found[1] == (
        "gitops/services/b.yaml:1:7: kind: unknown kind 'Servce' (fix: did you mean 'Service'?)"
    )


def test_cross_file_checks(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/a.yaml": (
                "kind: Service\nname: a\nimage: x:1\nports: ['8080:80']\n"
                "depends_on: [postgress]\nvolumes: ['cache:/cache']\n"
            ),
            "services/b.yaml": "kind: Service\nname: b\nimage: x:1\nports: ['8080:81']\n",
            "services/c.yaml": "kind: Service\nname: a\nimage: y:1\n",
        },
    )
    text = "\n".join(found)
    assert "gitops/services/a.yaml:5:14: depends_on[0]: 'a' depends on 'postgress'" in text
    assert "gitops/services/a.yaml:6:11: volumes[0]: volume 'cache' is not declared" in text
    assert "add `cache: {}` under `volumes:` in gitops/stack.yaml" in text
    assert (
        "gitops/services/b.yaml:4:9: ports[0]: host port 127.0.0.1:8080/tcp is also "
        "published by 'a'" in text
    )
    assert "gitops/services/c.yaml:2:7: name: Service 'a' is declared twice" in text


def test_dependency_cycle(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/a.yaml": "kind: Service\nname: a\nimage: x:1\ndepends_on: [b]\n",
            "services/b.yaml": "kind: Service\nname: b\nimage: x:1\ndepends_on: [a]\n",
        },
    )
    assert any("dependency cycle: a -> b -> a" in p for p in found)


def test_invalid_yaml_has_its_position(tmp_path: Path) -> None:
    found = problems(tmp_path, {"services/a.yaml": "kind: Service\nname: [a\n"})
    assert len(found) == 1
    assert found[0].startswith("gitops/services/a.yaml:3:1: invalid YAML")


def test_missing_stack_says_how_to_create_it(tmp_path: Path) -> None:
    gitops = tmp_path / "gitops"
    (gitops / "services").mkdir(parents=True)
    (gitops / "services" / "a.yaml").write_text("kind: Service\nname: a\nimage: x:1\n")
    with pytest.raises(ConfigError, match=r"create gitops/stack\.yaml"):
        load_project(gitops)


def test_mounted_file_is_read_next_to_the_document(tmp_path: Path) -> None:
    gitops = write_tree(
        tmp_path,
        {
            "services/a.yaml": (
                "kind: Service\nname: a\nimage: x:1\n"
                "files:\n  - {target: /etc/a.conf, source: a.conf}\n"
                "  - {target: /etc/b.conf, source: missing.conf}\n"
            ),
        },
    )
    (gitops / "services" / "a.conf").write_text("setting = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_project(gitops)
    assert [str(d) for d in caught.value.diagnostics] == [
        "gitops/services/a.yaml:6:35: files[1].source: file 'missing.conf' not found next to a.yaml"
    ]
    (gitops / "services" / "missing.conf").write_text("x\n")
    desired = load_project(gitops).desired
    assert desired.containers[0].files[0].content == "setting = 1\n"
    assert desired.containers[0].files[0].origin == "gitops/services/a.conf"


def test_secret_requirements_merge_with_the_stack_catalogue(tmp_path: Path) -> None:
    stack = (
        "kind: Stack\nproject: demo\nnetwork: net\nsecrets:\n  declare:\n"
        "    tok: {generate: {length: 10}}\n"
        "    runner: {derive: {from_secret: base, context: runner-1}}\n"
        "    runner2: {derive: {from_secret: base, context: runner-2}}\n"
        "    base: {help: the base of both runner secrets}\n"
        "    password: {help: provided by you}\n"
    )
    gitops = write_tree(
        tmp_path,
        {
            "stack.yaml": stack,
            "services/a.yaml": (
                "kind: Service\nname: a\nimage: x:1\nenv:\n  T: {secret: tok}\n"
                "  R: {secret: runner}\n  R2: {secret: runner2}\n  P: {secret: password}\n"
            ),
        },
    )
    secrets = {s.name: s for s in load_project(gitops).desired.secrets}
    assert sorted(secrets) == ["base", "password", "runner", "runner2", "tok"]
    assert secrets["tok"].generate is not None
    assert secrets["tok"].needed_by == ("Service/a",)
    assert secrets["password"].generate is None
    assert secrets["base"].needed_by == ("secret runner", "secret runner2")


def test_the_repository_examples_are_valid() -> None:
    root = Path(__file__).resolve().parents[3]
    project = load_project(root / "gitops")
    names = {c.name for c in project.desired.containers}
    assert {"mcp", "analytics"} <= names
