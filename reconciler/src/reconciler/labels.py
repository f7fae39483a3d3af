"""The label keys on every engine object the reconciler manages (one namespace).

Labels are how observe finds "ours" (never touching anything else), how plan knows what a
container was created from, and how a lock names its holder. They never carry secret
values: secrets appear only as salted digests inside the spec hash.
"""

from __future__ import annotations

NAMESPACE = "dev.chocolate-factory.gitops"

MANAGED_BY = f"{NAMESPACE}.managed-by"  # always "gitops"
PROJECT = f"{NAMESPACE}.project"  # stack.yaml `project`
RESOURCE = f"{NAMESPACE}.resource"  # logical name: container/network/volume name in YAML
ROLE = f"{NAMESPACE}.role"  # "service" | "job" | "network" | "volume" | "lock"
OWNER = f"{NAMESPACE}.owner"  # the document that declared it, e.g. "Service/mcp"
SOURCE = f"{NAMESPACE}.source"  # gitops/services/mcp.yaml:3:1
SPEC_HASH = f"{NAMESPACE}.spec-hash"  # sha256 of the canonical spec (files + secret digests)
SPEC = f"{NAMESPACE}.spec"  # the canonical spec JSON itself (for field diffs; no values)
IMAGE_ID = f"{NAMESPACE}.image-id"  # image ID the container was created from
IMAGE_REF = f"{NAMESPACE}.image-ref"  # the reference as declared (or overridden)
VERSION = f"{NAMESPACE}.version"  # ReplacePolicy.version of what runs (downgrade guard)
LOCK_HOLDER = f"{NAMESPACE}.lock-holder"  # "user@host pid N since ISO-time (checkout path)"
LOCK_HOST = f"{NAMESPACE}.lock-host"  # hostname of the holder (stale-lock detection)
LOCK_PID = f"{NAMESPACE}.lock-pid"  # pid of the holder on that host
LOCK_PIDNS = f"{NAMESPACE}.lock-pid-ns"  # its pid namespace (a pid means nothing elsewhere)
LOCK_CONTAINER = f"{NAMESPACE}.lock-container"  # the holder's container on this engine, if any

MANAGED_BY_VALUE = "gitops"


def ownership(project: str) -> dict[str, str]:
    """The labels that make an object part of `project`."""
    return {MANAGED_BY: MANAGED_BY_VALUE, PROJECT: project}


def project_filter(project: str) -> list[str]:
    """A docker SDK `filters={"label": ...}` value selecting only this project's objects."""
    return [f"{MANAGED_BY}={MANAGED_BY_VALUE}", f"{PROJECT}={project}"]
