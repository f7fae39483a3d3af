"""Devices: desired tags by hostname, and duplicate / stale nodes (report; prune if opted in).

Why duplicates matter: a sidecar without persistent state registers a new node on every
restart, so the tailnet fills with `forgejo`, `forgejo-1`, `forgejo-2`… (the MagicDNS
`name` gets the suffix; `hostname` stays the same). The plan groups devices by hostname,
keeps the one most recently connected, and reports the rest; removal needs
`prune.duplicates.enabled` and an age, so a node that was offline for a minute is never
deleted. Stale nodes (offline longer than `prune.stale.older_than`) are reported and removed
only when opted in, and only if they belong to this stack (a declared hostname or a tag the
stack manages): a person's laptop is never pruned.

Pure: devices in, decisions out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from factory_common.tailscale.models import Device

__all__ = ["DeviceDecision", "decide_devices", "human_age"]


@dataclass(frozen=True)
class DeviceDecision:
    """One device-level outcome: a tag change, a removal, or only a report (note)."""

    kind: str  # "set-tags" | "delete" | "note"
    hostname: str
    node_id: str
    cause: str
    tags_before: tuple[str, ...] = ()
    tags_after: tuple[str, ...] = ()
    managed: bool = True  # belongs to this stack (a declared hostname or a managed tag)


def human_age(delta: timedelta) -> str:
    """A short age: 3d, 5h, 12m."""
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400}d"
    if seconds >= 3600:
        return f"{seconds // 3600}h"
    return f"{max(seconds // 60, 0)}m"


def _recency(device: Device, now: datetime) -> tuple[int, datetime]:
    seen = device.last_seen or device.created or datetime.min.replace(tzinfo=now.tzinfo)
    return (1 if device.is_online(now) else 0, seen)


def decide_devices(
    devices: list[Device],
    desired_tags: dict[str, tuple[str, ...]],
    *,
    managed_tags: frozenset[str],
    now: datetime,
    prune_duplicates_after: timedelta | None,
    prune_stale_after: timedelta | None,
    stale_report_after: timedelta,
) -> list[DeviceDecision]:
    """Decide tag changes and removals; `None` ages mean "report only"."""
    decisions: list[DeviceDecision] = []
    by_host: dict[str, list[Device]] = defaultdict(list)
    for device in devices:
        by_host[device.hostname].append(device)
    duplicates: set[str] = set()
    for hostname in sorted(by_host):
        group = sorted(by_host[hostname], key=lambda d: _recency(d, now), reverse=True)
        keeper, extra = group[0], group[1:]
        if hostname in desired_tags:
            wanted = tuple(sorted(desired_tags[hostname]))
            if tuple(sorted(keeper.tags)) != wanted:
                decisions.append(
                    DeviceDecision(
                        "set-tags",
                        hostname,
                        keeper.ref,
                        "tags differ from gitops",
                        tuple(sorted(keeper.tags)),
                        wanted,
                    )
                )
        for dup in extra:
            duplicates.add(dup.ref)
            age = dup.offline_for(now)
            label = dup.name.split(".")[0] or hostname
            what = f"duplicate of {hostname} ({label}"
            if dup.is_online(now):
                what += ", online)"
            else:
                what += f", offline {human_age(age)})"
            ours = hostname in desired_tags or bool(managed_tags & set(dup.tags))
            removable = (
                prune_duplicates_after is not None
                and ours
                and not dup.is_online(now)
                and age >= prune_duplicates_after
            )
            decisions.append(
                DeviceDecision("delete" if removable else "note", hostname, dup.ref, what)
            )
    for device in sorted(devices, key=lambda d: (d.hostname, d.ref)):
        if device.ref in duplicates or device.is_online(now):
            continue
        age = device.offline_for(now)
        if age < stale_report_after:
            continue
        ours = device.hostname in desired_tags or bool(managed_tags & set(device.tags))
        removable = prune_stale_after is not None and ours and age >= prune_stale_after
        cause = f"stale: offline {human_age(age)}"
        decisions.append(
            DeviceDecision(
                "delete" if removable else "note",
                device.hostname,
                device.ref,
                cause,
                managed=ours,
            )
        )
    return decisions
