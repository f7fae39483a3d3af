"""The CLI's contract without an engine: exit codes, missing secrets stop plan (validate
does not care), DOCKER_HOST is the engine used, bad arguments."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from reconciler.cli import run

from .helpers import STACK, write_tree

SERVICE = "kind: Service\nname: a\nimage: x:1\nenv:\n  DB_PASSWORD: {secret: db_password}\n"


def test_validate_ignores_secrets_but_plan_stops_naming_the_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = STACK + "secrets:\n  declare:\n    db_password: {help: ask the DBA}\n"
    gitops = write_tree(tmp_path, {"stack.yaml": stack, "services/a.yaml": SERVICE})
    assert run(["--dir", str(gitops), "validate"], environ={}) == 0
    assert run(["--dir", str(gitops), "plan"], environ={}) == 1
    err = capsys.readouterr().err
    assert "secret 'db_password' is not set (needed by Service/a)" in err
    assert "set DB_PASSWORD in the environment or in .env" in err


def test_docker_host_is_the_engine_that_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = STACK + "secrets:\n  declare:\n    db_password: {help: ask the DBA}\n"
    gitops = write_tree(tmp_path, {"stack.yaml": stack, "services/a.yaml": SERVICE})
    environ = {"DOCKER_HOST": "tcp://127.0.0.1:9", "DB_PASSWORD": "x" * 12}
    assert run(["--dir", str(gitops), "plan"], environ=environ) == 1
    assert "cannot reach the Docker engine at tcp://127.0.0.1:9" in capsys.readouterr().err


def test_config_errors_exit_1_with_locations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gitops = write_tree(tmp_path, {"services/a.yaml": "kind: Service\nname: a\n"})
    assert run(["--dir", str(gitops), "plan"], environ={}) == 1
    assert "gitops/services/a.yaml:1:1: image: required key 'image' is missing" in (
        capsys.readouterr().err
    )


def test_bad_image_override_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gitops = write_tree(tmp_path, {"services/a.yaml": "kind: Service\nname: a\nimage: x:1\n"})
    assert run(["--dir", str(gitops), "plan", "--image", "a"], environ={}) == 1
    assert "--image expects SERVICE=REF" in capsys.readouterr().err


MARKUP_TAG = re.compile(r"\[/?(red|green|dim|bold|yellow|cyan)\b[^\]]*\]")


def test_errors_are_styled_not_printed_as_markup_and_their_brackets_survive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every error the CLI prints: no literal rich tags, and text from the error itself
    (which may hold `[...]`, e.g. a path or a log line) shown exactly, never parsed."""
    gitops = write_tree(tmp_path, {"services/a.yaml": "kind: Service\nname: a\nimage: x:1\n"})
    assert run(["--dir", str(gitops), "plan", "--image", "a[/tmp][bold]x"], environ={}) == 1
    err = capsys.readouterr().err
    assert not MARKUP_TAG.search(err.replace("a[/tmp][bold]x", "")), err
    assert "error: --image expects SERVICE=REF, got 'a[/tmp][bold]x'" in err

    gitops = write_tree(tmp_path / "c", {"services/a.yaml": "kind: Service\nname: a[/x]\n"})
    assert run(["--dir", str(gitops), "plan"], environ={}) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: "), err
    assert not MARKUP_TAG.search(err), err


def test_a_failed_apply_summary_prints_the_reason_and_details_verbatim() -> None:
    from io import StringIO

    from reconciler.actions import Plan
    from reconciler.apply import ApplyResult
    from reconciler.cli import _summary
    from reconciler.errors import ApplyError
    from rich.console import Console

    out = StringIO()
    failure = ApplyError(
        "docker:container:a",
        "healthcheck `test -e [/data]` failed [bold]",
        details=("[red]not markup[/red]",),
    )
    _summary(
        Console(file=out, width=200), Plan(project="p", actions=()), ApplyResult(failed=failure)
    )
    text = out.getvalue()
    assert "Apply failed at docker:container:a: healthcheck `test -e [/data]` failed [bold]" in text
    assert "[red]not markup[/red]" in text
