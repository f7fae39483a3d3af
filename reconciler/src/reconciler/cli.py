"""`gitops`: validate, plan, apply, drift, schema, unlock.

Exit codes (like `terraform plan -detailed-exitcode`): 0 nothing to do / success,
2 changes pending (plan, drift), 1 any error. Only wiring lives here: each command is
load → secrets → providers → plan → render (→ execute).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
from rich.console import Console
from rich.text import Text

from reconciler import __version__
from reconciler.actions import Plan
from reconciler.apply import ApplyResult, execute_plan
from reconciler.errors import ConfigError, GitopsError, SecretsError
from reconciler.planner import SecretsProvider, build_plan
from reconciler.project import Project, load_project
from reconciler.providers import ProviderSetup
from reconciler.providers.base import ExecContext, PlanContext, Provider
from reconciler.render import plan_document, render_plan
from reconciler.resources import GeneratedSecret
from reconciler.run_scope import run_scope
from reconciler.secrets import SecretStore

__all__ = ["main"]

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops",
        description="Reconcile the Docker engine (and tailnet) to the YAML under gitops/.",
        epilog="exit codes: 0 no changes/success, 2 changes pending (plan, drift), 1 error",
    )
    parser.add_argument("--version", action="version", version=f"gitops {__version__}")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("GITOPS_DIR", "gitops")),
        help="the gitops/ directory (default: ./gitops or $GITOPS_DIR)",
    )
    parser.add_argument("--docker-host", help="engine URL (default: DOCKER_HOST, stack.yaml)")
    parser.add_argument("--secrets-dir", type=Path, help="override stack.yaml secrets.dir")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("validate", help="check gitops/ (no secrets, no engine)")
    for name, text in (
        ("plan", "show what apply would change, with reasons (exit 2 = pending)"),
        ("apply", "make the engine match gitops/"),
        ("drift", "report what differs from gitops/ (exit 2 = drifted)"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--json", action="store_true", help="machine-readable output")
        cmd.add_argument(
            "--image",
            action="append",
            default=[],
            metavar="SERVICE=REF",
            help="deploy REF for SERVICE this run (repeatable; e.g. a digest); wins over "
            "gitops/.local/overrides.yaml",
        )
        cmd.add_argument(
            "--only",
            action="append",
            default=[],
            metavar="NAME,...",
            help="reconcile only these services/documents; the rest is left untouched",
        )
        cmd.add_argument(
            "--regenerate-secret",
            action="append",
            default=[],
            metavar="NAME",
            help="rotate this unset generatable secret even though running containers use "
            "it (repeatable; without it the plan stops instead)",
        )
        if name == "apply":
            _add_destructive_options(cmd, "delete this undeclared volume and its data (repeatable)")
    schema = sub.add_parser("schema", help="write the JSON Schema of gitops/ documents")
    schema.add_argument("--output", help="file to write (default: <dir>/schema.json; - = stdout)")
    sub.add_parser("unlock", help="remove a stale apply lock of this project")
    _add_down_parser(sub)
    return parser


def _add_down_parser(sub: Any) -> None:
    down = sub.add_parser(
        "down", help="remove the project's containers and networks (volumes are kept)"
    )
    _add_destructive_options(
        down, "also delete this project volume and its data (repeatable; declared or not)"
    )


def _add_destructive_options(cmd: Any, remove_volume_help: str) -> None:
    """The options of the commands that change the engine under the lock (apply, down)."""
    cmd.add_argument("--yes", "-y", action="store_true", help="do not ask")
    cmd.add_argument(
        "--remove-volume", action="append", default=[], metavar="NAME", help=remove_volume_help
    )
    cmd.add_argument(
        "--lock-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another apply or down to finish (default: fail at once)",
    )


def _overrides(values: Sequence[str]) -> dict[str, str]:
    result = {}
    for value in values:
        name, sep, ref = value.partition("=")
        if not sep or not name or not ref:
            raise GitopsError(f"--image expects SERVICE=REF, got {value!r}")
        result[name] = ref
    return result


class Session:
    """Everything one command needs, built once, in order."""

    def __init__(
        self,
        args: argparse.Namespace,
        environ: Mapping[str, str],
        console: Console,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.args = args
        self.console = console
        self.environ = environ
        self.options = dict(options or {})
        self.project: Project = load_project(args.dir)
        stack = self.project.stack
        gitops_dir = self.project.gitops_dir
        # --image/--only, then gitops/.local/overrides.yaml (run_scope.py)
        self.scope = run_scope(
            self.project, _overrides(getattr(args, "image", [])), getattr(args, "only", [])
        )
        self.desired = self.scope.desired
        secrets_dir = args.secrets_dir or (gitops_dir / stack.secrets.dir)
        self.secrets = SecretStore(
            stack.project,
            self.desired.secrets,
            environ=environ,
            env_file=(gitops_dir / stack.secrets.env_file).resolve(),
            secrets_dir=secrets_dir.resolve(),
        )
        injected = self.options.get("docker_client")
        self._owns_client = injected is None
        if injected is None:
            from reconciler.providers.docker.client import make_client

            injected = make_client(stack.docker.host, environ, override=args.docker_host)
        self.client: docker.DockerClient = injected

    def close(self) -> None:
        """Close the engine connection this session opened (an injected one is the caller's)."""
        if self._owns_client:
            self.client.close()

    def providers(self) -> dict[str, Provider]:
        from reconciler.builtin import PROVIDERS

        providers: dict[str, Provider] = {"secrets": SecretsProvider(self.secrets)}
        setup = ProviderSetup(
            stack=self.project.stack,
            gitops_dir=self.project.gitops_dir,
            environ=self.environ,
            secrets=self.secrets,
            docker_client=self.client,  # the one engine, for every provider
            options=self.options,
        )
        for name, factory in PROVIDERS.items():
            provider = factory(setup)
            if provider is not None:
                providers[name] = provider
        return providers

    def _regenerate(self) -> frozenset[str]:
        """--regenerate-secret names: only generatable secrets this stack declares."""
        names = frozenset(getattr(self.args, "regenerate_secret", []))
        generatable = {
            r.name for r in self.desired.secrets if isinstance(r.generate, GeneratedSecret)
        }
        unknown = sorted(names - generatable)
        if unknown:
            raise GitopsError(
                f"--regenerate-secret {', '.join(unknown)}: not a generatable secret of this "
                f"stack; generatable: {', '.join(sorted(generatable)) or 'none'}"
            )
        return names

    def plan(self, providers: Mapping[str, Provider]) -> Plan:
        ctx = PlanContext(
            desired=self.desired,
            secrets=self.secrets,
            image_overrides=self.scope.images,
            remove_volumes=frozenset(getattr(self.args, "remove_volume", [])),
            secrets_to_generate=frozenset(self.secrets.to_generate),
            regenerate_secrets=self._regenerate(),
            runner_name=self.environ.get("GITOPS_RUNNER_NAME") or None,
            left_out=self.scope.left_out,
        )
        plan = build_plan(self.desired, providers, ctx)
        return plan.model_copy(update={"notes": (*self.scope.notes, *plan.notes)})


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    project = load_project(args.dir)
    desired = project.desired
    console.print(
        Text.assemble(
            ("gitops/ is valid:", "green"),
            f" project {desired.project!r}, "
            f"{len(project.documents)} document(s), {len(desired.containers)} container(s), "
            f"{len(desired.volumes)} volume(s), {len(desired.secrets)} secret reference(s)",
        )
    )
    return EXIT_OK


def _cmd_plan(session: Session, *, drift: bool) -> int:
    plan = session.plan(session.providers())
    if session.args.json:
        print(json.dumps(plan_document(plan), indent=2, sort_keys=True))
    else:
        render_plan(plan, session.console, title="Drift" if drift else "Plan")
    return EXIT_OK if plan.empty else EXIT_CHANGES


def _confirm(console: Console) -> bool:
    if not sys.stdin.isatty():
        console.print("[red]refusing to apply without --yes (stdin is not a terminal)[/red]")
        return False
    answer = console.input("Apply these changes? Only 'yes' is accepted: ")
    return answer.strip() == "yes"


def _cmd_apply(session: Session) -> int:
    from reconciler.providers.docker.lock import EngineLock

    args = session.args
    out = Console(stderr=True, highlight=False) if args.json else session.console
    lock = EngineLock(
        session.client.api,
        session.desired.project,
        str(session.project.gitops_dir.parent),
        timeout_s=args.lock_timeout,
        progress=lambda m: out.print(Text(m, style="dim")),
    )
    with lock:
        providers = session.providers()
        plan = session.plan(providers)
        if not args.json:
            render_plan(plan, session.console)
        if plan.empty:
            if args.json:
                print(json.dumps({**plan_document(plan), "result": _result(ApplyResult())}))
            else:
                session.console.print("Nothing to do.")
            return EXIT_OK
        if not args.yes and not _confirm(out):
            return EXIT_ERROR
        ctx = ExecContext(
            desired=session.desired,
            secrets=session.secrets,
            progress=lambda m: out.print(Text(f"  {m}", style="dim")),
        )

        def on_action(index: int, total: int, text: str) -> None:
            out.print(Text.assemble((f"[{index}/{total}]", "bold"), f" {text}"))

        def on_done(action_id: str, seconds: float, ok: bool) -> None:
            verdict = "[green]done[/green]" if ok else "[red]failed[/red]"
            out.print(f"  {verdict} [dim]({seconds:.1f}s)[/dim]")

        result = execute_plan(plan, providers, ctx, on_action, on_done)
    if args.json:
        print(json.dumps({**plan_document(plan), "result": _result(result)}, indent=2))
    _summary(out, plan, result)
    if not result.ok:
        _unpullable_hint(out, session, plan, result)
    return EXIT_OK if result.ok else EXIT_ERROR


def _result(result: ApplyResult) -> dict[str, Any]:
    failed = result.failed
    return {
        "ok": result.ok,
        "completed": list(result.completed),
        "seconds": round(result.seconds, 3),
        "failed": None
        if failed is None
        else {"action": failed.action_id, "reason": failed.reason, "details": list(failed.details)},
    }


def _summary(console: Console, plan: Plan, result: ApplyResult) -> None:
    done = len(result.completed)
    if result.ok:
        console.print(
            f"[green]Applied {done} action(s) in {result.seconds:.1f}s.[/green] "
            "Run `gitops plan` again: it should show no changes."
        )
        return
    failed = result.failed
    assert failed is not None
    console.print(
        Text.assemble(("Apply failed", "red"), f" at {failed.action_id}: {failed.reason}")
    )
    for line in failed.details:
        console.print(Text(f"  {line}"))
    failed_count = result.attempted - done
    skipped = len(plan.actions) - result.attempted
    console.print(f"{done} action(s) completed, {failed_count} failed, {skipped} not attempted.")


def _unpullable_hint(console: Console, session: Session, plan: Plan, result: ApplyResult) -> None:
    """After images could not be pulled: the exact command that deploys what can run."""
    from reconciler.providers.docker.payloads import PullImage
    from reconciler.selection import without_images

    refs = [
        a.payload.ref
        for a in plan.actions
        if isinstance(a.payload, PullImage) and a.id not in result.completed
    ]
    if not refs or result.failed is None or not result.failed.action_id.startswith("docker:image"):
        return
    left, runnable = without_images(session.desired, refs)
    if not runnable:
        return
    only = ",".join(runnable)
    images = "".join(f" --image {ref}" for ref in session.args.image)
    console.print(
        f"Deploy what can run without them ({', '.join(left)} left out and untouched):\n"
        f"  just deploy --only {only}      (or: gitops apply --yes --only {only}{images})\n"
        "To keep this choice for later plan/drift/deploy runs, write "
        f"`only: [{', '.join(runnable)}]`"
        " (and `images: {SERVICE: REF}` for an image you provide another way) into "
        "gitops/.local/overrides.yaml.",
        markup=False,
        highlight=False,
    )


def _cmd_down(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    console: Console,
    options: Mapping[str, Any] | None,
) -> int:
    """`gitops down` (reconciler.down): no secrets needed, the apply lock held."""
    from reconciler.down import execute_down, plan_down
    from reconciler.providers.docker.client import make_client
    from reconciler.providers.docker.lock import EngineLock

    project = load_project(args.dir)
    client = (options or {}).get("docker_client") or make_client(
        project.stack.docker.host, environ, override=args.docker_host
    )
    name = project.stack.project
    progress = lambda m: console.print(Text(f"  {m}", style="dim"))  # noqa: E731
    with EngineLock(client.api, name, str(project.gitops_dir.parent), timeout_s=args.lock_timeout):
        plan = plan_down(client.api, name, args.remove_volume)
        if plan.empty:
            console.print(f"Nothing to remove: project {name!r} has no containers or networks.")
            return EXIT_OK
        console.print(
            f"Down {name!r}: {len(plan.containers)} container(s), {len(plan.networks)} "
            f"network(s), {len(plan.volumes)} volume(s) to delete; volumes kept: "
            f"{', '.join(plan.kept_volumes) or 'none'}"
        )
        if not args.yes and not _confirm(console):
            return EXIT_ERROR
        execute_down(client.api, plan, progress)
    console.print(f"[green]Removed project {name!r}.[/green] `just deploy` brings it back.")
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace, console: Console) -> int:
    from reconciler.schema import render

    text = render()
    target = args.output or str(args.dir / "schema.json")
    if target == "-":
        sys.stdout.write(text)
        return EXIT_OK
    Path(target).write_text(text, encoding="utf-8")
    console.print(f"wrote {target}")
    return EXIT_OK


def _cmd_unlock(session: Session) -> int:
    from reconciler.providers.docker.lock import EngineLock

    lock = EngineLock(session.client.api, session.desired.project, "")
    holder = lock.force_release()
    session.console.print(f"removed the lock held by {holder}" if holder else "no lock was held")
    return EXIT_OK


def run(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> int:
    """Entry point for tests and embedders (`options` may inject a docker_client)."""
    args = _parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    wide = None if sys.stdout.isatty() else 160  # CI logs: do not wrap at 80 columns
    console = Console(stderr=bool(getattr(args, "json", False)), highlight=False, width=wide)
    err = Console(stderr=True, highlight=False, width=wide)
    try:
        if args.command == "validate":
            return _cmd_validate(args, console)
        if args.command == "schema":
            return _cmd_schema(args, console)
        if args.command == "down":
            return _cmd_down(args, environ, console, options)
        session = Session(args, environ, console, options)
        try:
            if args.command == "unlock":
                return _cmd_unlock(session)
            if args.command in ("plan", "drift"):
                return _cmd_plan(session, drift=args.command == "drift")
            return _cmd_apply(session)
        finally:
            session.close()
    except ConfigError as exc:
        _error(err, exc.args[0].splitlines()[0])
        for diagnostic in exc.diagnostics:
            err.print(Text(f"  {diagnostic}"))
        return EXIT_ERROR
    except SecretsError as exc:
        err.print(Text("error: missing secrets", style="red"))
        for line in str(exc).splitlines():
            err.print(Text(f"  {line}"))
        return EXIT_ERROR
    except GitopsError as exc:  # ApplyError included
        _error(err, str(exc))
        return EXIT_ERROR


def _error(console: Console, message: str) -> None:
    """`error:` in red, then the message verbatim: messages hold names, paths and log lines,
    whose brackets must never be read as rich markup (every print here passes Text)."""
    console.print(Text.assemble(("error:", "red"), f" {message}"))


def main() -> int:
    return run()
