"""`python -m factory_pipeline build|push|overrides`: the steps nox's sessions run.

`build --if-missing` builds only when this commit's images are not on the engine yet (what
`just deploy` runs first, so a fresh machine needs no registry); `overrides --local` also
names images built but not pushed, by their commit tag; `guard -- COMMAND…` runs a deploy
command under the deploy lock, refusing a commit older than the one deployed
(factory_pipeline.deployed; `--check` only checks, `--force` overrides).

Each step prints what it does (the job log is the record) and exits 1 with one clear line
on failure. Configuration comes from the environment, as in a Forgejo Actions job:

    FACTORY_BASE_IMAGE   base image for the builds (default: the Dockerfiles' upstream one)
    FACTORY_WHEELHOUSE   1 = host-prepared wheels, builds install with no index (offline)
    REGISTRY_ADDRESS     host:port of the registry (default: the declared one's host port)
    REGISTRY_API_URL     the registry API as this process reaches it (default: from the address)
    REGISTRY_USER        which declared registry user pushes (default: the first)
    credentials          that user's `password_secret`, resolved as `gitops apply` resolves
                         every secret (environment, .env, .secrets/)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import docker
from docker.errors import DockerException

from factory_pipeline.build import (
    PipelineBuildError,
    base_image_of,
    base_python,
    build_image,
    ensure_base_image,
    prepare_wheelhouse,
    requirements,
    user_cache,
)
from factory_pipeline.declared import DeclarationError
from factory_pipeline.gitinfo import Commit, GitError, read_commit
from factory_pipeline.images import (
    Record,
    all_inputs,
    built_for,
    image_overrides,
    present_images,
    read_record,
    registry_address,
    write_record,
)
from reconciler import GitopsError


def _log(message: str) -> None:
    print(message, flush=True)


def _client() -> docker.DockerClient:
    try:
        return docker.from_env()
    except DockerException as exc:
        raise PipelineBuildError(f"cannot reach the Docker engine: {exc}") from exc


def _commit(root: Path) -> Commit:
    return read_commit(root, all_inputs(present_images(root)))


def cmd_build(root: Path, *, if_missing: bool = False) -> int:
    specs = present_images(root)
    commit = read_commit(root, all_inputs(specs))
    if not specs:
        raise PipelineBuildError(
            "no image to build: neither mcp/Dockerfile nor analytics/Dockerfile"
        )
    client = _client()
    if if_missing and built_for(root, commit.sha, {i.id for i in client.images.list()}):
        _log(f"images for {commit.sha[:12]} are on the engine (build/images.json); not rebuilding")
        return 0
    base_image = os.environ.get("FACTORY_BASE_IMAGE") or None
    for spec in specs:
        ensure_base_image(client, base_image_of(root, spec, base_image), spec.dockerfile, _log)
    offline = os.environ.get("FACTORY_WHEELHOUSE", "") not in ("", "0")
    if offline:
        # both memos live outside the build context (build/wheelhouse is COPYed into the
        # images: a file written there would change the dependency layer's cache key) and
        # outside the checkout (a CI job's workspace is new every run)
        cache = user_cache()
        python = base_python(client, base_image or "python:3.12-slim", cache)
        prepare_wheelhouse(root, requirements(root, specs), python, _log, cache / "wheelhouse")
    if commit.dirty:
        _log(f"note: uncommitted changes in the build inputs; tagging {commit.tags[0]}")
    built = [
        build_image(
            client,
            root,
            spec,
            registry=registry_address(root),
            commit=commit,
            base_image=base_image,
            offline=offline,
            log=_log,
        )
        for spec in specs
    ]
    path = write_record(root, Record(commit=commit.sha, branch=commit.branch, images=built))
    for image in built:
        _log(f"built {image.service}: {image.image_id[:19]} as {', '.join(image.tags)}")
    _log(f"recorded in {path.relative_to(root)}")
    return 0


def cmd_push(root: Path) -> int:
    from factory_pipeline.push import push_all

    commit = _commit(root)
    record = read_record(root)
    if record is None or record.commit != commit.sha:
        raise PipelineBuildError(
            "nothing built for this commit: run `nox -s build` first"
            f" (build/images.json is for {record.commit[:12] if record else 'no commit'})"
        )
    if commit.dirty:
        raise PipelineBuildError(
            "refusing to push images built from uncommitted changes: commit them first"
        )
    push_all(root, _client(), record, _log)
    write_record(root, record)
    return 0


def cmd_overrides(root: Path, *, from_registry: bool, local: bool = False) -> int:
    """Print `SERVICE=REPO@digest`, one per line, for this commit's pushed images.

    From build/images.json when it is for this commit; with --from-registry, otherwise from
    the registry's `<sha>` tags (what a scheduled drift check on a fresh checkout needs),
    which needs the registry credentials: without them this fails, naming the secret.
    """
    sha = _commit(root).sha
    overrides = image_overrides(root, sha, include_local=local)
    if not overrides and from_registry:
        from factory_pipeline.push import MissingCredentialsError, pushed_digests

        log = lambda message: print(message, file=sys.stderr)  # noqa: E731 - stdout is data
        try:
            pushed = pushed_digests(root, sha, log)
        except MissingCredentialsError as exc:
            # Comparing with the tags in git instead would report every service deployed by
            # digest as drifted: a failure nobody could act on. Say what is missing instead.
            raise PipelineBuildError(
                "the digests this commit deployed are in the registry, and its credentials"
                f" are not set ({', '.join(exc.names)}): set them (in Forgejo: the workflow's"
                " registry password secret, README 'Push to deploy') and run again; without"
                f" them there is nothing true to compare with.\n{exc}"
            ) from exc
        overrides = [f"{s}={ref}" for s, ref in sorted(pushed.items())]
    for override in overrides:
        print(override)
    return 0


def cmd_guard(root: Path, args: argparse.Namespace) -> int:
    """`guard [--check|--unlock] [--force] [--wait S] -- COMMAND…` (pipeline.deployed)."""
    from factory_pipeline.declared import declared_stack
    from factory_pipeline.deploy_lock import DeployLock
    from factory_pipeline.deployed import check, run_guarded
    from factory_pipeline.gitinfo import head, uncommitted
    from reconciler import make_client

    stack = declared_stack(root)
    api = make_client(stack.docker.host, os.environ).api
    if args.unlock:
        holder = DeployLock(api, stack.project, str(root)).force_release()
        _log(f"removed the deploy lock held by {holder}" if holder else "no deploy lock was held")
        return 0
    commit = head(root)
    force = args.force or os.environ.get("FACTORY_DEPLOY_FORCE", "") not in ("", "0")
    if args.check:
        _log(check(root, api, stack.project, commit, force=force))
        if uncommitted(root, "gitops"):
            _log(
                f"note: uncommitted changes under gitops/: a deploy now records {commit[:12]}-dirty"
            )
        return 0
    if not args.command:
        raise PipelineBuildError("guard: name the deploy command after --")
    return run_guarded(
        root, api, stack.project, commit, args.command, force=force, wait_s=args.wait, log=_log
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory_pipeline", description=__doc__)
    parser.add_argument("step", choices=("build", "push", "overrides", "guard"))
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument(
        "--from-registry", action="store_true", help="overrides: ask the registry if no record"
    )
    parser.add_argument(
        "--local", action="store_true", help="overrides: include built, unpushed images"
    )
    parser.add_argument(
        "--if-missing", action="store_true", help="build: skip when this commit's images exist"
    )
    guard = parser.add_argument_group("guard (one deploy at a time, in commit order)")
    guard.add_argument("--check", action="store_true", help="only check the commit order")
    guard.add_argument("--force", action="store_true", help="deploy even an older commit")
    guard.add_argument("--wait", type=float, default=1200.0, help="seconds to wait for the lock")
    guard.add_argument("--unlock", action="store_true", help="remove a stale deploy lock")
    words = list(sys.argv[1:] if argv is None else argv)
    split = words.index("--") if "--" in words else len(words)
    args = parser.parse_args(words[:split])
    args.command = words[split + 1 :]  # guard: the deploy command, after --
    root = args.root.resolve()
    try:
        if args.step == "guard":
            return cmd_guard(root, args)
        if args.step == "overrides":
            return cmd_overrides(root, from_registry=args.from_registry, local=args.local)
        if args.step == "build":
            return cmd_build(root, if_missing=args.if_missing)
        return cmd_push(root)
    except (PipelineBuildError, GitError, DeclarationError, GitopsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
