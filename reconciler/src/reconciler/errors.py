"""One error root for the engine, with a subtree per stage.

    GitopsError
    ├── ConfigError            the files under gitops/ are wrong (carries Diagnostics)
    ├── SecretsError           a secret cannot be resolved (names it, who needs it, how to fix)
    ├── ObservationError       a provider cannot be read (engine unreachable, auth)
    ├── PlanError              desired + observed cannot be reconciled (e.g. name taken)
    ├── LockHeldError          another apply holds the project's lock (names the holder)
    └── ApplyError             an action failed (carries the action id and what completed)

Providers translate their library's exceptions into this tree in exactly one place
(Docker: reconciler.providers.docker.client.unreachable when observing,
DockerExecutor.execute when applying). Messages never contain secret values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler.source import SourceLocation


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a file: where, what (with the YAML path), and the fix when obvious."""

    location: SourceLocation
    path: str
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location.file else ""
        what = f"{self.path}: {self.message}" if self.path else self.message
        hint = f" (fix: {self.fix})" if self.fix else ""
        return f"{where}{what}{hint}"


class GitopsError(Exception):
    """Root of every error the engine raises on purpose."""


class ConfigError(GitopsError):
    """The declared state is invalid; carries every problem found, not just the first."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(
            sorted(
                diagnostics,
                key=lambda d: (d.location.file, d.location.line, d.location.column, d.path),
            )
        )
        count = len(self.diagnostics)
        lines = "\n".join(str(d) for d in self.diagnostics)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in gitops/:\n{lines}")


@dataclass(frozen=True)
class MissingSecret:
    """A secret nobody provided and the engine cannot generate."""

    name: str
    needed_by: tuple[str, ...]
    how: str


class SecretsError(GitopsError):
    """Secrets that stop the plan; the message says who needs each one and how to provide it."""

    def __init__(self, missing: Iterable[MissingSecret]) -> None:
        self.missing = tuple(sorted(missing, key=lambda m: m.name))
        lines = [
            f"secret {m.name!r} is not set (needed by {', '.join(m.needed_by)}); {m.how}"
            for m in self.missing
        ]
        super().__init__("\n".join(lines))


class ObservationError(GitopsError):
    """A provider could not be read (the engine is unreachable, credentials rejected…)."""


class PlanError(GitopsError):
    """Desired and observed state cannot be reconciled without a person deciding."""


class LockHeldError(GitopsError):
    """Another apply of the same project is running; `holder` says who and since when."""

    def __init__(self, project: str, holder: str) -> None:
        self.project = project
        self.holder = holder
        super().__init__(
            f"another apply of project {project!r} is in progress: held by {holder}. "
            "Wait for it to finish (or pass --lock-timeout SECONDS to wait); if that process "
            "is gone, run `gitops unlock`."
        )


@dataclass
class ApplyError(GitopsError):
    """An action failed; nothing after it ran. `completed` lists the actions that did."""

    action_id: str
    reason: str
    completed: tuple[str, ...] = ()
    details: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.action_id}: {self.reason}"
        if self.details:
            text += "\n" + "\n".join(f"  {line}" for line in self.details)
        return text
