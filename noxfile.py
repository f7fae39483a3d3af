"""nox sessions: the one place that knows how to run each job.

A person runs them through `just`; Forgejo Actions run the very same sessions, so CI and
a laptop never disagree. Environments are reused (`nox -R` or the default below) and every
install goes through `session.install`, so a second run installs nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
# uv when it is installed (`pip install uv`): environments in seconds instead of minutes,
# which is most of a fresh CI job's time; plain venv otherwise.
nox.options.default_venv_backend = "uv|venv"
nox.options.sessions = ["lint", "typecheck", "tests", "e2e"]

ROOT = Path(__file__).parent
PACKAGES = ("common", "reconciler", "pipeline", "mcp", "analytics")
PYTHON = "3.11"
# The pipeline's offline builds download wheels with `python -m pip download`, and a uv
# environment has no pip of its own.
PIP = "pip>=23.2"


def _present(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Packages of this repository that exist in the tree (each has a pyproject.toml)."""
    return [p for p in packages if (ROOT / p / "pyproject.toml").exists()]


def _editables(packages: list[str], extra: str = "") -> list[str]:
    """`-e ./pkg[extra]` for each package, plus the test double's distribution with tests
    (common/testing, never in an image): all in one install, so the packages' dependencies
    on each other by name are met from the tree, not looked up on an index."""
    args = [arg for p in packages for arg in ("-e", f"./{p}{extra}")]
    if extra and (ROOT / "common" / "testing" / "pyproject.toml").exists():
        args += ["-e", "./common/testing"]
    return args


def _install_reconciler(session: nox.Session) -> None:
    # analytics too (when in the tree): it registers the model `gitops validate` checks its
    # config file with (`config_of: factory-analytics`); without it validate says to install it
    # and the pipeline (`python -m factory_pipeline`, the secrets hook), which imports the engine
    session.install(PIP, *_editables(_present(("common", "reconciler", "pipeline", "analytics"))))


def _gitops(session: nox.Session, *args: str) -> None:
    """Run the reconciler's CLI on ./gitops, passing through `nox -s X -- <args>`."""
    _install_reconciler(session)
    session.run("gitops", *args, *session.posargs, external=False)


def _pushed_images(
    session: nox.Session, *, from_registry: bool = False, local: bool = False
) -> list[str]:
    """`--image SERVICE=REF` for this commit's images: pushed ones by digest
    (`REPO@sha256:…`), and with `local` also images built here but not pushed, by their
    commit tag. Deploys run what was built for this commit without rewriting git; with
    nothing built for it, the images declared in gitops/ are used. Needs the reconciler
    installed in the session (its callers install it first).
    """
    args = ["--from-registry"] if from_registry else []
    args += ["--local"] if local else []
    out = session.run("python", "-m", "factory_pipeline", "overrides", *args, silent=True)
    pairs = [line for line in str(out or "").split() if "=" in line]
    for pair in pairs:
        session.log(f"image: {pair}")
    return [arg for pair in pairs for arg in ("--image", pair)]


def _answer(session: nox.Session, *args: str) -> None:
    """Run `gitops plan|drift` and end with its own answer: 0 nothing pending, 2 changes
    pending (drifted), 1 error. nox folds every session into passed/failed (0/1), which
    turns "changes pending" into a success or an error; so a 2 leaves nox by SystemExit
    (not a session failure to nox), and `just` passes it on to the shell."""
    try:
        session.run(*args)
    except nox.command.CommandFailed as failed:
        code = getattr(failed, "return_code", None)  # nox >= 2025: the command's code
        if code is None and (failed.reason or "").startswith("Returned code "):
            code = int(failed.reason.removeprefix("Returned code "))
        if code == 2:
            session.log(f"{' '.join(args[:2])}: changes pending (exit 2)")
            raise SystemExit(2) from None
        raise


@nox.session(python=PYTHON, tags=["pipeline"], default=False)
def build(session: nox.Session) -> None:
    """Build the mcp and analytics images, tagged with the commit SHA and the branch."""
    _install_reconciler(session)
    session.run("python", "-m", "factory_pipeline", "build", *session.posargs)


@nox.session(python=PYTHON, tags=["pipeline"], default=False)
def push(session: nox.Session) -> None:
    """Push the built images to the private registry and verify their digests there."""
    _install_reconciler(session)
    session.run("python", "-m", "factory_pipeline", "push", *session.posargs)


@nox.session(python=PYTHON, tags=["gitops"])
def validate(session: nox.Session) -> None:
    """Check the YAML under gitops/ (no secrets, no engine needed)."""
    _gitops(session, "validate")


@nox.session(python=PYTHON, tags=["gitops"])
def plan(session: nox.Session) -> None:
    """Show what deploy would change, with reasons (exit 2 when changes are pending)."""
    _install_reconciler(session)
    images = _pushed_images(session, local=True)
    _answer(session, "gitops", "plan", *images, *session.posargs)


@nox.session(python=PYTHON, tags=["gitops"])
def deploy(session: nox.Session) -> None:
    """Reconcile the Docker engine (and the tailnet) to gitops/: plan, then apply."""
    # A first deploy on a fresh machine has no registry yet to pull mcp and analytics from:
    # build them here (skipped when this commit's images are already on the engine).
    _install_reconciler(session)
    session.run("python", "-m", "factory_pipeline", "build", "--if-missing")
    images = _pushed_images(session, local=True)
    # One deploy at a time and in commit order, from a laptop or CI alike: the guard takes
    # the deploy lock, refuses a commit older than the one deployed (FACTORY_DEPLOY_FORCE=1
    # deploys it anyway), applies, and records this commit when the apply succeeded.
    session.run(
        "python",
        "-m",
        "factory_pipeline",
        "guard",
        "--",
        "gitops",
        "apply",
        "--yes",
        *images,
        *session.posargs,
    )


@nox.session(python=PYTHON, tags=["gitops"])
def drift(session: nox.Session) -> None:
    """Report what differs between gitops/ and what runs (exit 2 when anything does)."""
    _install_reconciler(session)
    images = _pushed_images(session, from_registry=True)
    _answer(session, "gitops", "drift", *images, *session.posargs)


@nox.session(python=PYTHON, default=False)  # no tag: `nox -t gitops` must never tear down
def down(session: nox.Session) -> None:
    """Remove the project's containers and networks; volumes are kept unless named
    (`-- --remove-volume NAME`). Under the apply lock; `just deploy` brings it back."""
    _gitops(session, "down", "--yes")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Run every pre-commit hook over all files (the same hooks a commit runs)."""
    session.install("pre-commit", "ruff")
    _install_reconciler(session)
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure", *session.posargs)


# The local packages each package's tests install: its own and what it depends on, plus
# analytics where a test uses it (the config model `gitops validate` checks with; the MCP
# server's contract test against the real analytics app), and the pipeline for the engine's
# registry test (reconciler/tests/kinds/test_registry_e2e.py pushes through its registry
# client and runs its GC against the registry the engine deployed). A package whose tests pass here
# declares its dependencies right: analytics' tests run without the engine installed.
TEST_INSTALLS = {
    "common": ("common",),
    "reconciler": ("common", "reconciler", "pipeline", "analytics"),
    "pipeline": ("common", "reconciler", "pipeline", "analytics"),
    "mcp": ("common", "mcp", "analytics"),
    "analytics": ("common", "analytics"),
}


def _pytest(session: nox.Session, packages: list[str], target: str) -> None:
    """pytest on `target` against the real Docker engine, failing on a leaked volume."""
    # one install: the local packages depend on each other by name (chocolate-factory-common)
    session.install(PIP, *_editables(packages, extra="[test]"))
    session.run("bash", "scripts/build-base-image.sh", external=True)
    # every run used to leave an anonymous volume behind: fail naming any new one
    snapshot = str(Path(session.create_tmp()) / "volumes-before.json")
    session.run("python", "scripts/leaked_volumes.py", "snapshot", snapshot)
    # pytest's temporary directories under the system's, not the session's (nox points TMPDIR
    # at .nox/<session>/tmp): tests bind Unix sockets there, and a socket path longer than
    # 107 bytes cannot be bound, which a long session name and checkout path reach
    session.run("pytest", target, *session.posargs, env={"TMPDIR": tempfile.gettempdir()})
    session.run("python", "scripts/leaked_volumes.py", "check", snapshot)


@nox.session(python=[PYTHON])
@nox.parametrize("package", list(TEST_INSTALLS))
def tests(session: nox.Session, package: str) -> None:
    """A package's tests (`nox -s "tests-3.11(package='mcp')"`; `-s tests`: every package)."""
    if not (ROOT / package / "tests").is_dir():
        session.skip(f"{package}/tests is not in this tree")
    _pytest(session, _present(TEST_INSTALLS[package]), f"{package}/tests")


@nox.session(python=PYTHON)
def e2e(session: nox.Session) -> None:
    """The end-to-end tests (tests/e2e): the pipeline, the workflows under act, the stack."""
    if not any((ROOT / "tests" / "e2e").glob("test_*.py")):
        session.skip("no tests/e2e")
    _pytest(session, _present(), "tests/e2e")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy over every package at once (mypy.ini), so cross-package imports are checked."""
    session.install(PIP, "mypy>=1.11", *_editables(_present()))
    modules = {
        "common": ["factory_common"],
        "reconciler": ["reconciler"],
        "pipeline": ["factory_pipeline"],
        "mcp": ["factory_mcp"],
        "analytics": ["factory_analytics"],
    }
    args = [arg for p in _present() for module in modules[p] for arg in ("-p", module)]
    if (ROOT / "common" / "testing" / "pyproject.toml").exists():
        session.install("-e", "./common/testing")
        args += ["-p", "factory_common_testing"]
    session.run("mypy", *args, *session.posargs)


@nox.session(python=PYTHON, default=False, tags=["e2e-real"])
def e2e_real_tailscale(session: nox.Session) -> None:
    """Tailscale sidecar with the real image and API (needs TAILSCALE_API_KEY; pulls)."""
    session.install(*_editables(["common", "reconciler"], extra="[test]"))
    session.run("bash", "scripts/build-base-image.sh", external=True)
    session.run(
        "pytest",
        "reconciler/tests/tailscale/test_e2e_real.py",
        "-rs",
        *session.posargs,
        env={"TAILSCALE_E2E_REAL": "1"},
    )


@nox.session(python=PYTHON, default=False)
def registry_gc(session: nox.Session) -> None:
    """Garbage-collect the private registry (stopped for the collection; `-- --dry-run`)."""
    _install_reconciler(session)
    session.run("python", "-m", "factory_pipeline.registry_gc", "--dir", "gitops", *session.posargs)


@nox.session(python=PYTHON, default=False, tags=["e2e-real"])
def e2e_real_kinds(session: nox.Session) -> None:
    """Registry, Forgejo and runners with the real upstream images (pulls them)."""
    session.install(*_editables(["common", "reconciler", "pipeline"], extra="[test]"))
    session.run(
        "pytest",
        "reconciler/tests/kinds/test_registry_e2e.py",
        "reconciler/tests/kinds/test_forgejo_real_e2e.py",
        "-rs",
        *session.posargs,
        env={"GITOPS_E2E_REAL": "1"},
    )


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with their peers; writes bench/RESULTS.md sections."""
    session.install(PIP, *_editables(_present(), extra="[test]"))
    session.install("-r", "bench/requirements.txt")
    session.run("bash", "scripts/build-base-image.sh", external=True)
    session.run("python", "bench/run.py", *session.posargs)
