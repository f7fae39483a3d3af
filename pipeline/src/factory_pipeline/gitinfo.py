"""What git says about the commit being built: SHA, branch, source URL, and the identity of
each image's build inputs.

Why two identities: image *tags* name the exact commit (`<sha>`, `<branch>`), so a deploy
can say which commit it runs; the image's *labels* depend only on what the image is built
from, so a commit that changes nothing an image is built from (docs, tests, gitops/)
rebuilds it from the layer cache to the very same image and digest, and nothing running is
recreated. Labels come from git's object ids of the input paths at HEAD (`git ls-tree`),
which every clone has, a depth-1 `actions/checkout` included; history (`git log -- paths`)
is not used for them because a shallow clone has none: there the "last change" is always
HEAD, which once made every push recreate mcp and analytics.
Read-only; never touches the index or the working tree.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from factory_pipeline.declared import declared_forgejo

_TAG_INVALID = re.compile(r"[^A-Za-z0-9_.-]")


class GitError(RuntimeError):
    """git could not answer (not a repository, no commit yet)."""


@dataclass(frozen=True)
class Commit:
    """The commit an image is built from."""

    sha: str
    branch: str | None
    created: str  # commit time, RFC 3339 UTC (of HEAD; not an image label, see inputs_labels)
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
    (a documented Forgejo difference). Deterministic for a checkout, so it never changes a
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


def inputs_id(root: Path, paths: tuple[str, ...]) -> str:
    """sha256 (hex) of the build inputs as committed at HEAD: their git object ids and modes.

    `git ls-tree HEAD -- paths` names each input path's tree or blob id, the hash of its
    whole content, so equal inputs give an equal id in any clone (full, shallow or fresh)
    and any change beneath a path (a file, a mode, a rename) gives a new one. A path absent
    from HEAD is simply not listed.
    """
    listing = _git(root, "ls-tree", "--full-tree", "HEAD", "--", *sorted(paths)) if paths else ""
    entries = sorted(line for line in listing.splitlines() if line)
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def source_date(environ: Mapping[str, str] | None = None) -> str:
    """The `created` label: SOURCE_DATE_EPOCH when set (reproducible-builds.org), else the
    Unix epoch, the convention of content-addressed image builders (ko, Bazel, Nix).

    Not the commit or build time: either would differ between two commits with identical
    inputs and so give a new digest (and a recreated container) for a docs-only push.
    """
    raw = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH", "").strip()
    epoch = int(raw) if raw.isdigit() else 0
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def inputs_labels(root: Path, paths: tuple[str, ...], *, dirty: bool) -> tuple[str, str]:
    """(revision, created) for an image built from `paths`: `revision` is inputs_id (with
    `-dirty` when the working tree differs from HEAD there), `created` is source_date().
    The commit itself is in the image's tags and the registry's `<sha>` tag, not in a label.
    """
    revision = inputs_id(root, paths)
    return (f"{revision}-dirty" if dirty else revision), source_date()


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


def uncommitted(root: Path, path: str) -> list[str]:
    """Paths under `path` that differ from HEAD: modified, staged, deleted or untracked
    (ignored files, such as secrets, are not part of what git would deploy)."""
    changed = _git(root, "diff", "--name-only", "HEAD", "--", path).splitlines()
    new = _git(root, "ls-files", "--others", "--exclude-standard", "--", path).splitlines()
    return sorted({p for p in (*changed, *new) if p})


def head(root: Path) -> str:
    """The full SHA of the commit checked out at `root`."""
    return _git(root, "rev-parse", "HEAD")


def is_shallow(root: Path) -> bool:
    """True in a clone with cut-off history (`actions/checkout` without fetch-depth: 0),
    where no ancestry question can be answered."""
    return _git(root, "rev-parse", "--is-shallow-repository") == "true"


def has_commit(root: Path, sha: str) -> bool:
    """Whether the clone at `root` has the commit `sha`."""
    done = subprocess.run(
        ["git", "-C", str(root), "cat-file", "-e", f"{sha}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    """`git merge-base --is-ancestor`: True when `older` is in the history of `newer`."""
    done = subprocess.run(
        ["git", "-C", str(root), "merge-base", "--is-ancestor", older, newer],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise GitError(f"git merge-base --is-ancestor failed in {root}: {done.stderr.strip()}")
    return done.returncode == 0
