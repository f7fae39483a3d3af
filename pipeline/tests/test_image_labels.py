"""Image labels depend only on what the image is built from, in any clone.

actions/checkout makes a depth-1 clone; there `git log -- paths` always answers HEAD, so
labels taken from history changed on every push and recreated mcp and analytics. These
tests build the labels in real shallow clones (`git clone --depth 1 file://…`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from factory_pipeline.gitinfo import inputs_id, inputs_labels, read_commit, source_date

INPUTS = (".dockerignore", "mcp/Dockerfile", "mcp/pyproject.toml", "mcp/README.md", "mcp/src")


def _git(repo: Path, *args: str) -> str:
    base = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e.invalid"]
    return subprocess.run([*base, *args], check=True, capture_output=True, text=True).stdout


def _write(repo: Path, path: str, text: str) -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)


def _commit(repo: Path, message: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD").strip()


def _shallow(origin: Path, dest: Path, commit: str) -> Path:
    """A depth-1 clone of `commit`, as actions/checkout@v4 makes one."""
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", "--no-local", f"file://{origin}", str(dest)],
        check=True,
    )
    _git(dest, "fetch", "-q", "--depth", "1", "origin", commit)
    _git(dest, "checkout", "-q", "--detach", commit)
    assert _git(dest, "rev-parse", "--is-shallow-repository").strip() == "true"
    assert _git(dest, "rev-list", "--count", "HEAD").strip() == "1"
    return dest


@pytest.fixture
def origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    repo = tmp_path / "origin"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _write(repo, ".dockerignore", "*\n!mcp/src/\n")
    _write(repo, "mcp/Dockerfile", "FROM scratch\n")
    _write(repo, "mcp/pyproject.toml", "[project]\nname = 'chocolate-factory-mcp'\n")
    _write(repo, "mcp/src/factory_mcp/__init__.py", "VERSION = 1\n")
    _commit(repo, "mcp")
    return repo


def test_a_docs_only_push_gives_the_same_labels_in_shallow_clones(
    origin: Path, tmp_path: Path
) -> None:
    before = _git(origin, "rev-parse", "HEAD").strip()
    _write(origin, "README.md", "# docs\n")
    _write(origin, "mcp/tests/test_x.py", "def test_x():\n    pass\n")
    after = _commit(origin, "docs and tests only")

    first = _shallow(origin, tmp_path / "ci-1", before)
    second = _shallow(origin, tmp_path / "ci-2", after)
    labels = inputs_labels(first, INPUTS, dirty=False)
    assert inputs_labels(second, INPUTS, dirty=False) == labels
    # ...and the same as a full clone's: local builds and CI builds agree.
    assert inputs_labels(origin, INPUTS, dirty=False) == labels
    # The tags still name each commit exactly.
    assert read_commit(first, INPUTS).sha == before
    assert read_commit(second, INPUTS).sha == after


@pytest.mark.parametrize(
    "change",
    [
        lambda repo: _write(repo, "mcp/src/factory_mcp/__init__.py", "VERSION = 2\n"),
        lambda repo: _write(repo, "mcp/src/factory_mcp/new.py", "x = 1\n"),
        lambda repo: _write(repo, "mcp/Dockerfile", "FROM scratch\nLABEL a=b\n"),
        lambda repo: _write(repo, ".dockerignore", "*\n"),
        lambda repo: (repo / "mcp/src/factory_mcp/__init__.py").chmod(0o755),
    ],
    ids=["source edit", "new file", "Dockerfile", "dockerignore", "mode"],
)
def test_a_change_to_an_input_gives_a_new_revision_in_a_shallow_clone(
    origin: Path, tmp_path: Path, change
) -> None:
    before = _git(origin, "rev-parse", "HEAD").strip()
    change(origin)
    after = _commit(origin, "input change")
    old = inputs_id(_shallow(origin, tmp_path / "ci-1", before), INPUTS)
    new = inputs_id(_shallow(origin, tmp_path / "ci-2", after), INPUTS)
    assert old != new


def test_uncommitted_input_changes_mark_the_revision_dirty(origin: Path) -> None:
    _write(origin, "mcp/src/factory_mcp/__init__.py", "VERSION = 3\n")
    commit = read_commit(origin, INPUTS)
    revision, _ = inputs_labels(origin, INPUTS, dirty=commit.dirty)
    assert commit.dirty
    assert revision == inputs_id(origin, INPUTS) + "-dirty"


def test_created_is_source_date_epoch_or_the_epoch_never_the_clock() -> None:
    assert source_date({}) == "1970-01-01T00:00:00Z"
    assert source_date({"SOURCE_DATE_EPOCH": "1767225600"}) == "2026-01-01T00:00:00Z"
