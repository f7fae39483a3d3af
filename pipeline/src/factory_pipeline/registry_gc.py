"""`nox -s registry_gc`: offline garbage collection of the declared registry's storage.

Why offline: distribution's `registry garbage-collect` must not race a push (a blob uploaded
during the mark phase would be swept), so its docs require the registry to be stopped or in
read-only mode. A read-only twin cannot take over the published port of the running registry,
so this stops the registry (pulls and pushes fail for those seconds), runs the collector in a
one-off container with the same image, storage volume and `REGISTRY_*` env plus read-only
maintenance mode (so even a stray writer would be refused), then starts the registry again
and waits for it to be healthy. The registry's container is the reconciler's (labels, spec
hash): it is stopped and started, never recreated, so the next plan stays empty.

It holds the project's apply lock the whole time: a `gitops apply` (a CI deploy) that saw
the registry stopped would start it again, and pushes during the sweep lose blobs. A
`--dry-run` deletes nothing, so it reads the storage beside the running registry instead of
stopping it.

    python -m factory_pipeline.registry_gc [--dir gitops] [--dry-run] [--registry NAME]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from reconciler import (
    EngineLock,
    GitopsError,
    Registry,
    container_name,
    load_project,
    make_client,
    registry_env,
    run_once,
    tail_lines,
)

__all__ = ["collect_garbage", "main"]


class GCError(GitopsError):
    """The collection could not run; the registry is running again when this is raised."""


def _registry(gitops_dir: Path, wanted: str | None) -> tuple[str, Registry, str | None]:
    project = load_project(gitops_dir)
    registries = [item.model for item in project.documents if isinstance(item.model, Registry)]
    for doc in registries:
        if wanted in (None, doc.name):
            return project.stack.project, doc, project.stack.docker.host
    names = [r.name for r in registries] or "none declared"
    raise GCError(f"no Registry named {wanted!r} under {gitops_dir} ({names})")


def _wait_healthy(container: Container, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        health = container.attrs["State"].get("Health", {}).get("Status")
        if container.status == "running" and health in (None, "healthy"):
            return
        if container.status == "exited":
            break
        time.sleep(0.5)
    raise GCError(f"{container.name} did not become healthy again after GC; see `docker logs`")


def collect_garbage(
    client: docker.DockerClient,
    project: str,
    doc: Registry,
    *,
    dry_run: bool = False,
    progress: Callable[[str], object] = print,
) -> str:
    """Stop → `registry garbage-collect` → start; returns the collector's output."""
    name = container_name(project, doc.name)
    try:
        registry = client.containers.get(name)
    except docker.errors.NotFound as exc:
        raise GCError(f"container {name} does not exist: deploy first (`just deploy`)") from exc
    image = registry.attrs["Image"]
    env = {k: str(v) for k, v in registry_env(doc, read_only=True).items()}  # no SecretRef there
    command = ["registry", "garbage-collect", doc.config_path]
    if dry_run:
        command.insert(2, "--dry-run")
    if doc.gc.delete_untagged:
        command.insert(2, "--delete-untagged")
    volumes = [
        f"{m['Name']}:{m['Destination']}" for m in registry.attrs["Mounts"] if m["Type"] == "volume"
    ]
    was_running = registry.status == "running" and not dry_run
    if was_running:
        progress(f"stopping {name} for garbage collection")
        registry.stop(timeout=30)
    failure: GCError | None = None
    output: bytes | str = b""
    try:
        output = run_once(
            client,
            image,
            command,
            entrypoint=[],
            environment=env,
            volumes=volumes,
            network_mode="none",
            labels={"dev.chocolate-factory.gitops.role": "registry-gc"},
            stdout=True,
            stderr=True,
        )
    except docker.errors.ContainerError as exc:
        stderr = exc.stderr
        text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else str(stderr or "")
        last = "\n".join(tail_lines(text, 2000))
        failure = GCError(f"registry garbage-collect exited {exc.exit_status}:\n{last}")
    if was_running:
        progress(f"starting {name}")
        registry.start()
        try:
            _wait_healthy(registry, doc.health_timeout)
        except GCError as restart:
            if failure is None:
                raise
            raise GCError(f"{failure}; and then: {restart}") from None
    if failure is not None:
        raise failure
    return output.decode(errors="replace") if isinstance(output, bytes) else str(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="registry_gc", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("gitops"), help="the gitops directory")
    parser.add_argument("--registry", help="name of the Registry document (default: the first)")
    parser.add_argument("--dry-run", action="store_true", help="only report what would go")
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="wait this long for a running apply to finish (default 600)",
    )
    args = parser.parse_args(argv)
    try:
        project, doc, host = _registry(args.dir, args.registry)
        client = make_client(host, os.environ)
        lock = EngineLock(
            client.api,
            project,
            str(args.dir.resolve().parent),
            timeout_s=args.lock_timeout,
            progress=print,
        )
        with lock:
            output = collect_garbage(client, project, doc, dry_run=args.dry_run)
    except GitopsError as exc:
        print(f"registry_gc: {exc}", file=sys.stderr)
        return 1
    lines = output.strip().splitlines()
    deleted = [line for line in lines if "eligible for deletion" in line or "Deleting" in line]
    print("\n".join(lines[-20:]))
    print(f"registry_gc: done ({len(deleted)} blob/manifest line(s) marked for deletion)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
