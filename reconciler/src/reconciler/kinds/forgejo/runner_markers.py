"""What Forgejo remembers about the runners gitops registered, and how they are revoked.

Forgejo ≤ 14 has no API or CLI that lists or deletes runners (forgejo-runner docs), so every
registration leaves a marker in Forgejo's own data volume (it lives and dies with the
registrations themselves): `MARKER_DIR/<pool>/<runner>` with three lines: the state digest
the probe compares, the runner's public 16-character secret prefix (which fixes its UUID),
and its scope. Revoking re-registers the same UUID, in the same scope, with a random secret
tail: its old token stops working (`unregistered runner`); the entry stays listed as offline
until `cron.cleanup_offline_runners` or an admin removes it.

Both the RunnerPool kind (a runner removed from a pool) and the Forgejo kind (a whole pool
removed from gitops/) prune with these scripts. Pure: they only build argv.
"""

from __future__ import annotations

__all__ = ["MARKER_DIR", "REVOKE_MARKER", "prune_pools_command", "prune_pools_probe"]

MARKER_DIR = "/var/lib/gitea/gitops-runners"

# sh: revoke the runner whose marker file is "$f" (in the current directory), drop the marker
REVOKE_MARKER = (
    'prefix="$(sed -n 2p "$f")"; scope="$(sed -n 3p "$f")"; '
    "fresh=\"$(od -An -N12 -tx1 /dev/urandom | tr -d ' \\n')\"; "
    'if [ -n "$scope" ] && [ "$scope" != instance ]; then '
    'printf %s "$prefix$fresh" | forgejo forgejo-cli actions register --secret-stdin '
    '--name "$f" --scope "$scope" --keep-labels >/dev/null; '
    'else printf %s "$prefix$fresh" | forgejo forgejo-cli actions register --secret-stdin '
    '--name "$f" --keep-labels >/dev/null; fi && rm -f "$f" && echo "revoked runner $f"'
)


# sh: for each pool folder "$d" that is not among the arguments (the declared pools)...
_EACH_UNDECLARED_POOL = (
    f'cd "{MARKER_DIR}" 2>/dev/null || exit 0; '
    'for d in *; do [ -d "$d" ] || continue; keep=no; '
    'for n in "$@"; do [ "$d" = "$n" ] && keep=yes; done; '
    '[ "$keep" = yes ] && continue; '
)


def prune_pools_probe(declared: list[str]) -> tuple[str, ...]:
    """Exit 0 when no pool gitops registered runners for is missing from `declared`."""
    script = _EACH_UNDECLARED_POOL + 'for f in "$d"/*; do [ -e "$f" ] && exit 1; done; done; exit 0'
    return ("sh", "-c", script, "prune-pools", *declared)


def prune_pools_command(declared: list[str]) -> tuple[str, ...]:
    """Revoke every runner of every pool no longer declared for this Forgejo."""
    script = (
        _EACH_UNDECLARED_POOL
        + '( cd "$d" && for f in *; do [ -e "$f" ] || continue; '
        + f'{REVOKE_MARKER}; done ) && rmdir "$d"; done'
    )
    return ("sh", "-c", script, "prune-pools", *declared)
