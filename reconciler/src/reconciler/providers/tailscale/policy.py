"""The tailnet policy file: load and check it, decide what to do with it, mark what we applied.

Where "last applied" is kept, and why there: in the tailnet's policy file itself, as one
comment line that apply adds at the top of the text it uploads::

    // gitops:last-applied sha256=<normalised digest> from gitops/tailscale/policy.hujson

Comments are not part of the normalised policy, so the marker never causes a diff. Keeping
it in the tailnet (rather than a cache file in one checkout, as gitops-pusher's
``version-cache.json`` does) means a laptop and a CI job, each with a fresh clone, both
know what was last applied. On plan:

- tailnet == git (normalised)             → nothing to do;
- tailnet == its own marker, git differs  → "changed in git";
- tailnet != its own marker               → "edited in the admin console since the last
  apply"; if git still equals the marker, applying would revert that edit and the cause
  says so;
- no marker at all                        → "differs from the tailnet, whose policy was never
  applied by gitops". A policy without the marker did not come from a gitops apply (apply
  always writes it), so there is no last-applied state to tell git changes from console
  edits; the one case folded in here is a person deleting the marker line itself in the
  console, which leaves nothing to compare against either.

Apply then validates through the API first and sets the policy with ``If-Match`` the ETag
seen by plan, so an edit made between plan and apply is refused (412), never overwritten.

Pure: parsing and deciding only. Reading the file is done by compile (``ctx.read_text``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from factory_common.tailscale import hujson
from factory_common.tailscale.models import PolicyFile
from pydantic import BaseModel, ConfigDict

__all__ = [
    "MARKER_PREFIX",
    "NEVER_APPLIED",
    "DesiredPolicy",
    "PolicyDecision",
    "PolicyProblem",
    "decide_policy",
    "local_problems",
    "marked_text",
    "read_marker",
    "unified_diff",
]

MARKER_PREFIX = "// gitops:last-applied sha256="
NEVER_APPLIED = (
    "differs from the tailnet, whose policy has no gitops:last-applied marker: "
    "it was never applied by gitops"
)
_MARKER = re.compile(r"^// gitops:last-applied sha256=(?P<digest>[0-9a-f]{64})\b.*$", re.M)


class DesiredPolicy(BaseModel):
    """The policy as declared in git (handed to the provider through DesiredState.extra)."""

    model_config = ConfigDict(frozen=True)

    text: str  # HuJSON text from git, comments kept
    normalised: str  # canonical JSON (sorted keys)
    digest: str  # sha256 of `normalised`
    origin: str  # "gitops/tailscale/policy.hujson"
    tag_owners: tuple[str, ...]  # declared tags

    @classmethod
    def from_text(cls, text: str, origin: str) -> DesiredPolicy:
        """Parse (raises hujson.HuJSONError with line/column) and normalise."""
        value = hujson.parse(text).value
        normalised = hujson.to_json(value)
        tag_owners = tuple(
            sorted((value.get("tagOwners") or {}) if isinstance(value, dict) else {})
        )
        return cls(
            text=text,
            normalised=normalised,
            digest=hujson.normalised_digest(text),
            origin=origin,
            tag_owners=tag_owners,
        )


@dataclass(frozen=True)
class PolicyProblem:
    """A mistake found in the policy file before any API call, with its position."""

    line: int
    column: int
    message: str
    fix: str


_CHECKED_SECTIONS = ("acls", "grants", "tests", "ssh", "autoApprovers")
_TAG = re.compile(r"\btag:[A-Za-z0-9-]+")


def _walk(
    value: object, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), key
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))
    elif isinstance(value, str):
        yield path, value


def local_problems(text: str) -> list[PolicyProblem]:
    """Tags used in acls/grants/tests/ssh/autoApprovers but not declared in tagOwners.

    The API refuses such a policy too; finding it here gives file:line before any call.
    Raises hujson.HuJSONError for text that does not parse."""
    doc = hujson.parse(text)
    value = doc.value
    if not isinstance(value, dict):
        return [PolicyProblem(1, 1, "the policy must be a JSON object", "wrap it in { }")]
    declared = set(value.get("tagOwners") or {})
    problems: list[PolicyProblem] = []
    seen: set[tuple[str, tuple[str | int, ...]]] = set()
    for section in _CHECKED_SECTIONS:
        for path, string in _walk(value.get(section), (section,)):
            for tag in _TAG.findall(string):
                if tag in declared or (tag, path) in seen:
                    continue
                seen.add((tag, path))
                where = doc.where(path) or hujson.Position(1, 1)
                problems.append(
                    PolicyProblem(
                        where.line,
                        where.column,
                        f"{tag} is used but not declared in tagOwners",
                        f'add "{tag}": ["autogroup:admin"] (or its real owners) to tagOwners',
                    )
                )
    return sorted(problems, key=lambda p: (p.line, p.column))


def read_marker(text: str) -> str | None:
    """The digest recorded by the last gitops apply, if the marker line is present."""
    match = _MARKER.search(text)
    return match["digest"] if match else None


def marked_text(desired: DesiredPolicy) -> str:
    """The text apply uploads: git's HuJSON with the last-applied marker as first line."""
    body = _MARKER.sub("", desired.text).lstrip("\n")
    return f"{MARKER_PREFIX}{desired.digest} from {desired.origin}\n{body}"


def unified_diff(before: str, after: str, *, before_name: str, after_name: str) -> str:
    """A unified diff of two normalised policies ('' when equal)."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=before_name,
        tofile=after_name,
    )
    return "".join(lines)


@dataclass(frozen=True)
class PolicyDecision:
    """What plan concluded: nothing (``causes`` empty) or a set-policy with its reasons."""

    causes: tuple[str, ...]
    diff: str
    observed_normalised: str
    etag: str
    console_edited: bool

    @property
    def needed(self) -> bool:
        return bool(self.causes)


def decide_policy(desired: DesiredPolicy, observed: PolicyFile) -> PolicyDecision:
    """Compare git's policy with the tailnet's and explain the difference."""
    try:
        observed_normalised = hujson.normalise(observed.text)
        observed_digest = hujson.normalised_digest(observed.text)
    except hujson.HuJSONError:  # the console accepted something we cannot read: show it raw
        observed_normalised, observed_digest = observed.text, ""
    if observed_digest == desired.digest:
        return PolicyDecision((), "", observed_normalised, observed.etag, console_edited=False)
    marker = read_marker(observed.text)
    console_edited = marker is not None and marker != observed_digest
    causes: tuple[str, ...]
    if marker is None:
        causes = (NEVER_APPLIED,)
        console_edited = False
    elif not console_edited:
        causes = ("changed in git",)
    elif marker == desired.digest:
        causes = (
            "edited in the admin console since the last apply; git is unchanged, so "
            "applying reverts the console edit (copy it into git to keep it)",
        )
    else:
        causes = ("changed in git", "also edited in the admin console since the last apply")
    diff = unified_diff(
        observed_normalised,
        desired.normalised,
        before_name="tailnet (normalised)",
        after_name=f"{desired.origin} (normalised)",
    )
    return PolicyDecision(causes, diff, observed_normalised, observed.etag, console_edited)
