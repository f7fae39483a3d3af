"""What git says about the commit being built: SHA, branch, commit time, source URL.

Why: image tags and OCI labels must name the exact commit, and an unchanged commit must
rebuild to the same image, so `created` is the commit time rather than the build time.
Read-only; never touches the index or the working tree.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from reconciler.pipeline.declared import declared_forgejo

_TAG_INVALID = re.compile(r"[^A-Za-z0-9_.-]")


class GitError(RuntimeError):
    """git could not answer (not a repository, no commit yet)."""


@dataclass(frozen=True)
class Commit:
    """The commit an image is built from."""

    sha: str
    branch: str | None
    created: str  # commit time, RFC 3339 UTC
    source: str
    dirty: bool

    @property
    def tags(self) -> tuple[str, ...]:
        """Image tags: the SHA (suffixed `-dirty` for uncommitted inputs) and the branch."""
        sha_tag = f"{self.sha}-dirty" if self.dirty else self.sha
        return (sha_tag, branch_tag(self.branch)) if self.branch else (sha_tag,)


def branch_tag(branch: str) -> str:
    """A branch name as a valid image tag (`feature/x` → `feature-x`, at most 128 chars)."""
    tag = _TAG_INVALID.sub("-", branch).lstrip(".-") or "branch"
    return tag[:128]


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed in {root}: {result.stderr.strip()}")
    return result.stdout.strip()


def _strip_credentials(url: str) -> str:
    """Drop `user:token@` from a remote URL: it ends up in an image label."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _origin(root: Path) -> str | None:
    try:
        return _strip_credentials(_git(root, "remote", "get-url", "origin")) or None
    except GitError:
        return None


def _repository_path(origin: str | None) -> str | None:
    """`owner/repo` of this repository: Forgejo's GITHUB_REPOSITORY in a job, else the last
    two path segments of the origin remote (https://…/owner/repo.git, git@host:owner/repo)."""
    explicit = os.environ.get("GITHUB_REPOSITORY", "").strip("/ ")
    if explicit:
        return explicit
    if not origin or origin.startswith(("/", ".", "file:")) or ":" not in origin:
        return None  # a local clone names no repository on a server
    path = urlsplit(origin).path if "://" in origin else origin.rpartition(":")[2]
    parts = [part for part in path.removesuffix(".git").split("/") if part]
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


def source_url(root: Path) -> str:
    """The repository's public web address, for the OCI `source` label.

    In order: FACTORY_SOURCE_URL (a Forgejo variable, when the address is not declared);
    the declared Forgejo's `root_url` plus `owner/repo`; the origin remote without
    credentials; "unknown". Never GITHUB_SERVER_URL: in a Forgejo job that is the address
    the runner registered with (`http://forgejo:3000` on the stack network), not ROOT_URL
    (../shared/forgejo-notes.md §3). Deterministic for a checkout, so it never changes a
    digest by itself.
    """
    explicit = os.environ.get("FACTORY_SOURCE_URL", "").strip()
    if explicit:
        return _strip_credentials(explicit.rstrip("/"))
    origin = _origin(root)
    forgejo = declared_forgejo(root)
    repository = _repository_path(origin)
    if forgejo is not None and repository:
        return f"{forgejo.root_url.rstrip('/')}/{repository}"
    return origin or "unknown"


def _branch(root: Path) -> str | None:
    # Forgejo and act set GITHUB_REF_NAME; a local checkout asks git.
    if os.environ.get("GITHUB_REF_TYPE", "branch") == "branch" and os.environ.get(
        "GITHUB_REF_NAME"
    ):
        return os.environ["GITHUB_REF_NAME"]
    name = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    return None if name == "HEAD" else name


def last_change(root: Path, paths: tuple[str, ...]) -> tuple[str, str]:
    """(sha, RFC 3339 UTC time) of the last commit that touched `paths`.

    An image's `revision` and `created` labels come from here, not from HEAD: a commit that
    changes nothing an image is built from rebuilds it to the very same image and digest,
    so a docs-only push recreates nothing.
    """
    present = [p for p in paths if (root / p).exists()]
    out = _git(root, "log", "-1", "--format=%H %ct", "HEAD", "--", *present) if present else ""
    if not out:
        out = _git(root, "log", "-1", "--format=%H %ct", "HEAD")
    sha, epoch = out.split()
    return sha, datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_commit(root: Path, inputs: tuple[str, ...]) -> Commit:
    """The commit checked out at `root`, and whether the build `inputs` differ from it
    (edits elsewhere, tests, docs, gitops/, do not make a build dirty)."""
    sha = _git(root, "rev-parse", "HEAD")
    epoch = int(_git(root, "log", "-1", "--format=%ct", "HEAD"))
    created = datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    present = [p for p in inputs if (root / p).exists()]
    dirty = bool(_git(root, "status", "--porcelain", "--", *present)) if present else False
    return Commit(
        sha=sha, branch=_branch(root), created=created, source=source_url(root), dirty=dirty
    )
