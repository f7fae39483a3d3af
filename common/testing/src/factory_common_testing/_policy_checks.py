"""What the Tailscale test double checks in a policy file before it accepts it.

Part of the *test double* (not used by the reconciler): it lets tests see the API refuse a
policy the way the real control plane does, as far as Tailscale's policy documentation describes:

- every ``tag:…`` used in ``acls``, ``grants``, ``tests`` and ``autoApprovers`` must be
  declared in ``tagOwners``; every ``group:…`` used must be declared in ``groups``;
- the policy's ``tests`` run against its ``acls`` and ``grants``: each ``accept`` entry must
  be allowed and each ``deny`` entry refused.

The evaluator covers the selectors the factory uses: ``*``, users, ``group:``, ``tag:``,
``autogroup:member``/``autogroup:tagged``, host aliases from ``hosts``, IPs and CIDRs, ports
as ``*``, lists and ranges, and ``proto``. It does not model device posture, ``autogroup:self``,
via/app grants or IP sets. The exact wording of Tailscale's per-test error strings is not in
the facts (only the envelope ``{"message": "test(s) failed", "data": [{"user", "errors"}]}``
is); the strings here are this double's own and are marked unverified.
"""

from __future__ import annotations

import ipaddress
from typing import Any

__all__ = ["policy_problems", "run_tests"]


def _tags_and_groups(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        for part in value.split(","):
            head = part.strip()
            for prefix in ("tag:", "group:"):
                if head.startswith(prefix):
                    name = head.split(":", 2)
                    found.add(f"{name[0]}:{name[1]}")
    elif isinstance(value, list):
        for item in value:
            _tags_and_groups(item, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _tags_and_groups(key, found)
            _tags_and_groups(item, found)


def policy_problems(policy: dict[str, Any]) -> list[str]:
    """Structural problems: undeclared tags or groups (unverified message wording)."""
    if not isinstance(policy, dict):
        return ["policy must be a JSON object"]
    declared_tags = set(policy.get("tagOwners") or {})
    declared_groups = set(policy.get("groups") or {})
    used: set[str] = set()
    for section in ("acls", "grants", "tests", "autoApprovers", "ssh"):
        _tags_and_groups(policy.get(section), used)
    _tags_and_groups(list((policy.get("tagOwners") or {}).values()), used)
    problems = []
    for name in sorted(used):
        if name.startswith("tag:") and name not in declared_tags:
            problems.append(f'tag "{name}" is not defined in tagOwners')
        if name.startswith("group:") and name not in declared_groups:
            problems.append(f'group "{name}" is not defined in groups')
    return problems


def _split_hostport(value: str) -> tuple[str, str]:
    if value.startswith("[") and "]:" in value:  # [v6]:port
        host, _, port = value[1:].partition("]:")
        return host, port
    host, sep, port = value.rpartition(":")
    return (host, port) if sep else (value, "*")


def _port_matches(spec: str, port: int) -> bool:
    for part in spec.split(","):
        part = part.strip()
        if part == "*":
            return True
        if "-" in part:
            low, high = part.split("-", 1)
            if int(low) <= port <= int(high):
                return True
        elif part and int(part) == port:
            return True
    return False


def _resolve(host: str, hosts: dict[str, str]) -> str:
    return hosts.get(host, host)


def _ip_in(selector: str, candidate: str) -> bool:
    try:
        network = ipaddress.ip_network(selector, strict=False)
        return ipaddress.ip_address(candidate) in network
    except ValueError:
        return False


def _principal_matches(selector: str, who: str, policy: dict[str, Any]) -> bool:
    hosts = policy.get("hosts") or {}
    groups = policy.get("groups") or {}
    if selector in ("*", who):
        return True
    if selector.startswith("group:"):
        return who in groups.get(selector, [])
    if selector == "autogroup:member":
        return "@" in who and not who.startswith("tag:")
    if selector == "autogroup:tagged":
        return who.startswith("tag:")
    resolved_selector, resolved_who = _resolve(selector, hosts), _resolve(who, hosts)
    return resolved_selector == resolved_who or _ip_in(resolved_selector, resolved_who)


def _proto_matches(rule_proto: str | None, test_proto: str | None) -> bool:
    if not rule_proto:
        return True
    return (test_proto or "tcp").lower() == str(rule_proto).lower()


def _allowed(src: str, dst: str, proto: str | None, policy: dict[str, Any]) -> bool:
    host, port_text = _split_hostport(dst)
    port = int(port_text) if port_text.isdigit() else 0
    for rule in policy.get("acls") or []:
        if rule.get("action", "accept") != "accept":
            continue
        if not _proto_matches(rule.get("proto"), proto):
            continue
        if not any(_principal_matches(s, src, policy) for s in rule.get("src", [])):
            continue
        for target in rule.get("dst", []):
            t_host, t_ports = _split_hostport(target)
            if _principal_matches(t_host, host, policy) and _port_matches(t_ports, port):
                return True
    for grant in policy.get("grants") or []:
        if not any(_principal_matches(s, src, policy) for s in grant.get("src", [])):
            continue
        if not any(_principal_matches(d, host, policy) for d in grant.get("dst", [])):
            continue
        for cap in grant.get("ip", []):
            g_proto, sep, g_ports = str(cap).rpartition(":")
            if not sep:
                g_proto, g_ports = "", str(cap)
            if _proto_matches(g_proto or None, proto) and _port_matches(g_ports, port):
                return True
    return False


def run_tests(
    policy: dict[str, Any], tests: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Run ACL tests; return the ``data`` entries of the failing users (empty = all pass)."""
    failures: dict[str, list[str]] = {}
    for test in (policy.get("tests") or []) if tests is None else tests:
        src = str(test.get("src", ""))
        proto = test.get("proto")
        errors = failures.setdefault(src, [])
        for dst in test.get("accept") or []:
            if not _allowed(src, dst, proto, policy):
                errors.append(f"address {dst!r}: expected to be allowed, but it is denied")
        for dst in test.get("deny") or []:
            if _allowed(src, dst, proto, policy):
                errors.append(f"address {dst!r}: expected to be denied, but it is allowed")
    return [{"user": user, "errors": errs} for user, errs in failures.items() if errs]
