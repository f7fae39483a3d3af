"""Never silently replace a secret that running containers were created with.

A generatable secret that cannot be found (not in the environment, `.env` or the secrets
dir) is generated on the first apply. That is right on a fresh machine and wrong
everywhere else: a CI job whose workspace has no `.secrets/` and whose repository secret is
unset (or mistyped) would generate a fresh Forgejo SECRET_KEY and recreate Forgejo, after
which every 2FA secret and token it encrypted is unreadable; a new registry password or
runner base secret breaks every client that has the old one.

Running containers remember what they were created with: their stored canonical spec
names every secret they use (with its salted digest). So a secret that is about to be
generated while an observed container of this project uses it, directly or through a
secret derived or computed from it, stops the plan, naming the container and how to
provide the value. Rotating it on purpose is one explicit flag:
`--regenerate-secret NAME`. Pure: reads only observed values and requirements.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from reconciler.errors import PlanError
from reconciler.providers.base import PlanContext
from reconciler.providers.docker.observe import ObservedContainer
from reconciler.resources import ComputedSecret, DerivedSecret, SecretRequirement

__all__ = ["refuse_regenerating_used_secrets", "secrets_in_spec"]


def secrets_in_spec(spec: dict[str, Any] | None) -> set[str]:
    """Secret names a stored canonical spec refers to (env values and secret files)."""
    names: set[str] = set()
    if not spec:
        return names
    for value in (spec.get("env") or {}).values():
        if isinstance(value, dict) and isinstance(value.get("secret"), str):
            names.add(value["secret"])
    for entry in spec.get("secret_files") or ():
        if isinstance(entry, dict) and isinstance(entry.get("secret"), str):
            names.add(entry["secret"])
    return names


def _inputs(requirement: SecretRequirement) -> tuple[str, ...]:
    how = requirement.generate
    if isinstance(how, DerivedSecret):
        return (how.from_secret,)
    if isinstance(how, ComputedSecret):
        return tuple(how.inputs.values())
    return ()


def _depends_on(name: str, requirements: dict[str, SecretRequirement]) -> Iterator[str]:
    """`name` and every secret whose value is made from it, transitively."""
    seen = {name}
    frontier = [name]
    while frontier:
        current = frontier.pop()
        yield current
        for other, req in sorted(requirements.items()):
            if other not in seen and current in _inputs(req):
                seen.add(other)
                frontier.append(other)


def refuse_regenerating_used_secrets(
    containers: Iterable[ObservedContainer], ctx: PlanContext
) -> None:
    """PlanError when a secret to be generated is one a running container already uses."""
    to_generate = ctx.secrets_to_generate - ctx.regenerate_secrets
    if not to_generate:
        return
    requirements = {r.name: r for r in ctx.desired.secrets}
    users: dict[str, set[str]] = {}
    for container in containers:
        for used in secrets_in_spec(container.spec):
            users.setdefault(used, set()).add(container.resource)
    problems = []
    for name in sorted(to_generate):
        affected = sorted(
            {who for made in _depends_on(name, requirements) for who in users.get(made, ())}
        )
        if not affected:
            continue
        req = requirements.get(name)
        why = f" ({req.help})" if req is not None and req.help else ""
        problems.append(
            f"secret {name!r}{why} is not set here, but {', '.join(affected)} "
            "already run with a value of it: generating a new one would replace it"
        )
    if problems:
        raise PlanError(
            "; ".join(problems)
            + ". Provide the value they run with (the environment, .env, or the file in the "
            "secrets directory; in Forgejo Actions a repository secret, see the README), "
            "or rotate it on purpose with --regenerate-secret NAME."
        )
