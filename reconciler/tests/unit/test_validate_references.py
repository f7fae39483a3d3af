"""What `gitops validate` used to accept or report badly, on real files in a tmp gitops/:
references to secrets nobody declares, empty files, a service's config file checked with
the owning package's own model, follow-on errors beside the real one, tabs and bytes that
are not UTF-8. Each problem is one diagnostic at file:line:col with its fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from reconciler.cli import run
from reconciler.errors import ConfigError
from reconciler.project import load_project

from .helpers import write_tree

REPO_GITOPS = Path(__file__).resolve().parents[3] / "gitops"
STACK_WITH_SECRETS = """
kind: Stack
project: demo
network: net
volumes:
  data: {}
secrets:
  declare:
    db_password: {help: "the database password, from the DBA"}
    api_token: {generate: {length: 32}}
"""
REGISTRY = (
    "kind: Registry\nname: registry\nusers: [{name: ci, password_secret: registry-ci-password}]\n"
)
FORGEJO = (
    "kind: Forgejo\nname: forgejo\nroot_url: https://git.example/\nadmin: {email: a@example.org}\n"
)
RUNNERS = (
    "kind: RunnerPool\nname: pool\nforgejo: forgejo\nnames: [runner-1]\n"
    "labels: ['docker:docker://node:22']\ndocker: {mode: socket, socket_gid: 999}\n"
)


def problems(tmp_path: Path, files: dict[str, str | bytes]) -> list[str]:
    gitops = write_tree(tmp_path, {k: v for k, v in files.items() if isinstance(v, str)})
    for name, data in files.items():
        if isinstance(data, bytes):
            (gitops / name).parent.mkdir(parents=True, exist_ok=True)
            (gitops / name).write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        load_project(gitops)
    return [str(d) for d in caught.value.diagnostics]


# --- secrets nobody declares -------------------------------------------------------------


def test_env_secret_nobody_declares_is_an_error_at_its_node(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "stack.yaml": STACK_WITH_SECRETS,
            "services/a.yaml": (
                "kind: Service\nname: a\nimage: x:1\nenv:\n"
                "  DB: {secret: db_password}\n  OTHER: {secret: db_pasword}\n"
            ),
        },
    )
    assert len(found) == 1, found
    assert found[0].startswith("gitops/services/a.yaml:6:10: env.OTHER: "), found
    assert "secret 'db_pasword' is not declared" in found[0]
    assert "did you mean 'db_password'?" in found[0]


def test_secret_file_nobody_declares_says_how_to_declare_it(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "stack.yaml": STACK_WITH_SECRETS,
            "services/a.yaml": (
                "kind: Service\nname: a\nimage: x:1\nsecret_files:\n"
                "  - {secret: api_token, target: /run/a}\n"
                "  - {secret: smtp_password, target: /run/b}\n"
            ),
        },
    )
    assert len(found) == 1, found
    assert found[0].startswith("gitops/services/a.yaml:6:14: secret_files[1].secret: "), found
    assert "secret 'smtp_password' is not declared" in found[0]
    assert "under secrets.declare" in found[0]
    assert "{help: how to obtain it}" in found[0]


def test_forgejo_app_ini_secret_nobody_declares_is_an_error(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "forgejo/forgejo.yaml": FORGEJO + "app_ini:\n  mailer:\n    PASSWD: {secret: smtp}\n",
        },
    )
    assert len(found) == 1, found
    assert found[0].startswith("gitops/forgejo/forgejo.yaml:7:13: app_ini.mailer.PASSWD: ")
    assert "secret 'smtp' is not declared" in found[0]


def test_derive_from_a_secret_nobody_declares_is_an_error(tmp_path: Path) -> None:
    stack = STACK_WITH_SECRETS + "    child: {derive: {from_secret: parent, context: x}}\n"
    found = problems(
        tmp_path,
        {
            "stack.yaml": stack,
            "services/a.yaml": "kind: Service\nname: a\nimage: x:1\nenv: {C: {secret: child}}\n",
        },
    )
    assert len(found) == 1, found
    assert "secrets.declare.child.derive.from_secret: " in found[0], found
    assert "secret 'parent' is not declared" in found[0]


def test_secrets_declared_by_the_stack_or_a_kind_are_accepted(tmp_path: Path) -> None:
    gitops = write_tree(
        tmp_path,
        {
            "stack.yaml": STACK_WITH_SECRETS,
            "registry/registry.yaml": REGISTRY,
            "forgejo/forgejo.yaml": FORGEJO,
            "services/a.yaml": (
                "kind: Service\nname: a\nimage: x:1\nenv:\n"
                "  DB: {secret: db_password}\n  PUSH: {secret: registry-ci-password}\n"
                "  GIT: {secret: forgejo-automation-token}\n"
                "secret_files: [{secret: api_token, target: /run/t}]\n"
            ),
        },
    )
    secrets = {s.name: s for s in load_project(gitops).desired.secrets}
    assert "Service/a" in secrets["registry-ci-password"].needed_by
    assert secrets["db_password"].help == "the database password, from the DBA"


# --- empty files -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing yet\n", "---\n", "--- # x\n...\n"])
def test_an_empty_yaml_file_is_an_error_at_its_start(tmp_path: Path, text: str) -> None:
    found = problems(tmp_path, {"services/empty.yaml": text})
    assert found == [
        "gitops/services/empty.yaml:1:1: the file is empty (no YAML document in it) "
        "(fix: declare something in it, e.g. `kind: Service` and `name:`, or delete it)"
    ]


# --- a service's config file, checked with its package's own model ----------------------

ANALYTICS = """
kind: Service
name: analytics
image: x:1
files:
  - source: analytics-config.yaml
    target: /etc/factory-analytics/config.yaml
    config_of: factory-analytics
"""


def test_config_file_unknown_key_and_wrong_type_have_their_lines(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/analytics.yaml": ANALYTICS,
            "services/analytics-config.yaml": (
                "database: /data/a.db\nretension:\n  raw_days: 3\n"
                "retention:\n  raw_days: lots\n"
                "logs:\n  - name: api\n    format: auto\n"
            ),
        },
    )
    assert len(found) == 3, found
    assert found[0] == (
        "gitops/services/analytics-config.yaml:2:1: retension: unknown key 'retension' "
        "(fix: did you mean 'retention'?)"
    )
    assert found[1].startswith(
        "gitops/services/analytics-config.yaml:5:13: retention.raw_days: Input should be a "
        "valid integer"
    ), found
    assert found[2].startswith("gitops/services/analytics-config.yaml:7:5: logs[0]: "), found
    assert "set exactly one of `container` (Docker) or `file`" in found[2]


def test_inline_config_content_is_checked_at_its_node(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/analytics.yaml": (
                "kind: Service\nname: analytics\nimage: x:1\nfiles:\n"
                "  - target: /etc/factory-analytics/config.yaml\n"
                "    config_of: factory-analytics\n"
                "    content: 'retention: {raw_days: 0}'\n"
            ),
        },
    )
    assert len(found) == 1, found
    assert found[0].startswith(
        "gitops/services/analytics.yaml:7:14: files[0].content: retention.raw_days: Input "
        "should be greater than or equal to 1"
    ), found


def test_config_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/analytics.yaml": ANALYTICS,
            "services/analytics-config.yaml": "- database\n",
        },
    )
    assert len(found) == 1, found
    assert found[0].startswith("gitops/services/analytics-config.yaml:1:1: expected a mapping")


def test_config_file_may_be_empty_when_its_program_accepts_that(tmp_path: Path) -> None:
    gitops = write_tree(
        tmp_path,
        {"services/analytics.yaml": ANALYTICS, "services/analytics-config.yaml": "# defaults\n"},
    )
    assert load_project(gitops).desired.containers[0].files[0].content == "# defaults\n"


def test_config_of_a_model_nobody_installed_says_what_to_install(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/analytics.yaml": ANALYTICS.replace("factory-analytics", "factory-analytix"),
            "services/analytics-config.yaml": "database: /data/a.db\n",
        },
    )
    assert len(found) == 1, found
    assert found[0].startswith("gitops/services/analytics.yaml:7:16: files[0].config_of: ")
    assert "no installed package provides a configuration model 'factory-analytix'" in found[0]
    assert "did you mean 'factory-analytics'?" in found[0]


def test_without_analytics_installed_validate_fails_and_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an environment where no package registered a model (the reconciler installed alone):
    # the entry-point lookup finds nothing, and the file is never silently left unchecked
    import reconciler.config_models as config_models

    monkeypatch.setattr(config_models, "entry_points", lambda group: [])
    found = problems(
        tmp_path,
        {
            "services/analytics.yaml": ANALYTICS,
            "services/analytics-config.yaml": "database: /data/a.db\n",
        },
    )
    assert len(found) == 1, found
    assert "no installed package provides a configuration model 'factory-analytics'" in found[0]
    assert "(entry points gitops.config_models: none)" in found[0]
    assert "pip install -e ./reconciler -e ./analytics" in found[0]


def test_the_shipped_analytics_config_is_checked_by_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gitops = tmp_path / "gitops"
    shutil.copytree(REPO_GITOPS, gitops)
    assert run(["--dir", str(gitops), "validate"], environ={}) == 0
    config = gitops / "services" / "analytics-config.yaml"
    config.write_text(config.read_text().replace("  raw_days: 30", "  raw_days: thirty"))
    capsys.readouterr()
    assert run(["--dir", str(gitops), "validate"], environ={}) == 1
    err = capsys.readouterr().err
    assert "gitops/services/analytics-config.yaml:" in err
    assert "retention.raw_days: Input should be a valid integer" in err


# --- follow-on errors --------------------------------------------------------------------


def test_bad_ports_do_not_make_the_service_undeclared_for_its_dependents(
    tmp_path: Path,
) -> None:
    found = problems(
        tmp_path,
        {
            "services/a.yaml": "kind: Service\nname: a\nimage: x:1\nports: ['3000']\n",
            "services/b.yaml": (
                "kind: Service\nname: b\nimage: x:1\ndepends_on: [a]\nnetwork_mode: 'container:a'\n"
            ),
        },
    )
    assert len(found) == 1, found
    assert found[0].startswith("gitops/services/a.yaml:4:9: ports[0]: ")


def test_typo_in_files_source_is_one_error_with_the_close_name(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/analytics.yaml": ANALYTICS.replace(
                "source: analytics-config.yaml", "source: analytics-cofig.yaml"
            ),
            "services/analytics-config.yaml": "database: /data/a.db\n",
        },
    )
    assert found == [
        "gitops/services/analytics.yaml:5:13: files[0].source: file 'analytics-cofig.yaml' not "
        "found next to analytics.yaml (fix: did you mean 'analytics-config.yaml'?)"
    ]


def test_an_invalid_document_is_still_known_by_name_and_by_what_it_names(
    tmp_path: Path,
) -> None:
    # Forgejo has one error (its root_url); the registry one (an unknown key). Everything
    # that refers to them (the runner pool, a service's dependency, secrets and volume they
    # declare) is not reported again.
    found = problems(
        tmp_path,
        {
            "forgejo/forgejo.yaml": FORGEJO.replace("https://git.example/", "git.example"),
            "registry/registry.yaml": REGISTRY + "prot: 5000\n",
            "runners/runners.yaml": RUNNERS,
            "services/a.yaml": (
                "kind: Service\nname: a\nimage: x:1\ndepends_on: [forgejo, registry, runner-1]\n"
                "env:\n  T: {secret: forgejo-automation-token}\n"
                "  P: {secret: registry-ci-password}\n"
                "volumes: ['registry-data:/r:ro']\n"
            ),
        },
    )
    assert len(found) == 2, found
    assert found[0].startswith("gitops/forgejo/forgejo.yaml:3:11: root_url: ")
    assert found[1].startswith("gitops/registry/registry.yaml:4:1: prot: unknown key")


def test_independent_errors_are_still_all_reported(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/a.yaml": "kind: Service\nname: a\nimage: x:1\nports: ['3000']\n",
            "services/b.yaml": "kind: Service\nname: b\nimage: x:1\ndepends_on: [postgres]\n",
        },
    )
    assert len(found) == 2, found
    assert "'b' depends on 'postgres', which is not declared" in found[1]


# --- tabs and encodings ------------------------------------------------------------------


def test_tab_indent_says_to_indent_with_spaces(tmp_path: Path) -> None:
    found = problems(tmp_path, {"services/a.yaml": "kind: Service\nenv:\n\tA: b\n"})
    assert len(found) == 1, found
    assert found[0].startswith("gitops/services/a.yaml:3:1: invalid YAML: ")
    assert found[0].endswith("(fix: indent with spaces, not tabs)")


def test_tab_after_a_key_says_to_write_a_space(tmp_path: Path) -> None:
    found = problems(tmp_path, {"services/a.yaml": "kind: Service\nname:\ta\n"})
    assert len(found) == 1, found
    assert found[0].startswith("gitops/services/a.yaml:2:6: invalid YAML: ")
    assert found[0].endswith("(fix: write a space instead of the tab)")


def test_non_utf8_document_has_the_line_of_the_first_bad_byte(tmp_path: Path) -> None:
    found = problems(tmp_path, {"services/a.yaml": b"kind: Service\nname: a\nimage: caf\xe9:1\n"})
    assert len(found) == 1, found
    assert found[0].startswith("gitops/services/a.yaml:3:11: not UTF-8: byte 0xe9"), found
    assert "(fix: save the file as UTF-8" in found[0]


def test_non_utf8_file_delivered_into_a_container_has_its_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/a.yaml": (
                "kind: Service\nname: a\nimage: x:1\n"
                "files: [{source: a.conf, target: /etc/a.conf}]\n"
            ),
            "services/a.conf": b"ok = 1\nname = \xff\xfe\n",
        },
    )
    assert len(found) == 1, found
    assert found[0].startswith("gitops/services/a.conf:2:8: not UTF-8: byte 0xff"), found
    assert "(fix: save the file as UTF-8" in found[0]


# --- an unreadable file does not hide the other files' problems --------------------------


def test_a_file_that_does_not_parse_hides_no_other_files_problems(tmp_path: Path) -> None:
    """One run shows every problem: a YAML syntax error, a non-UTF-8 file and an empty file
    beside a model error in a readable file (the stack's bad publish_ip) are all reported."""
    found = problems(
        tmp_path,
        {
            "stack.yaml": (
                "kind: Stack\nproject: demo\nnetwork: net\ndefaults:\n  publish_ip: localhost\n"
            ),
            "services/tab.yaml": "kind: Service\nenv:\n\tA: b\n",
            "services/latin.yaml": b"kind: Service\nname: caf\xe9\n",
            "services/empty.yaml": "",
            "services/ok.yaml": "kind: Service\nname: ok\nimage: x:1\nrestart: sometimes\n",
        },
    )
    where = sorted(f.split(": ", 1)[0] for f in found)
    assert where == [
        "gitops/services/empty.yaml:1:1",
        "gitops/services/latin.yaml:2:10",
        "gitops/services/ok.yaml:4:10",
        "gitops/services/tab.yaml:3:1",
        "gitops/stack.yaml:5:15",
    ], found


def test_an_unreadable_file_causes_no_follow_on_errors(tmp_path: Path) -> None:
    """What the unreadable file declares is unknown: a service depending on it, or a stack
    file that did not parse, is not also reported as missing."""
    found = problems(
        tmp_path,
        {
            "stack.yaml": "kind: Stack\nproject: demo\nnetwork: net\n\tbad: tab\n",
            "services/db.yaml": "kind: Service\nname: db\nimage: x:1\nenv:\n\tA: b\n",
            "services/app.yaml": "kind: Service\nname: app\nimage: x:1\ndepends_on: [db]\n",
        },
    )
    assert len(found) == 2, found
    assert all("invalid YAML" in f for f in found), found
