"""Tailnet presence: poll the devices list through the shared client
(`factory_common.tailscale.api`, never a copy) and store one sample per device per poll, so
uptime per node is measured history rather than a guess from the current state.

`online` is derived because the API has no such field (Tailscale API v2, devices):
`connectedToControl` when present; otherwise a device whose `lastSeen` is absent is
connected, and one seen within two poll intervals counts as online.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC

from factory_common.tailscale.api import Device, TailscaleClient

from factory_analytics.identity import IdentityResolver
from factory_analytics.store import writes
from factory_analytics.store.backfill import backfill_identity
from factory_analytics.store.writes import DeviceObservation
from factory_analytics.timeutil import now as wall_clock

COLLECTOR = "tailnet"


def derive_online(device: Device, at: float, interval_seconds: int) -> bool:
    if device.connected_to_control is not None:
        return device.connected_to_control
    if device.last_seen is None:
        return True
    return at - device.last_seen.timestamp() <= 2 * interval_seconds


def observe(device: Device, at: float, interval_seconds: int) -> DeviceObservation:
    """The API's device → what we store (tagged devices keep the API's `user` as given)."""
    last_seen = device.last_seen
    if last_seen is not None and last_seen.tzinfo is None:
        last_seen = last_seen.replace(tzinfo=UTC)
    return DeviceObservation(
        node_id=device.ref,
        hostname=device.hostname or device.name.split(".", 1)[0],
        name=device.name or None,
        user=device.user or None,
        tags=list(device.tags),
        os=device.os or None,
        addresses=list(device.addresses),
        online=derive_online(device, at, interval_seconds),
        connected_to_control=device.connected_to_control,
        last_seen=None if last_seen is None else last_seen.timestamp(),
    )


class TailnetCollector:
    def __init__(
        self,
        conn: sqlite3.Connection,
        client: TailscaleClient,
        interval_seconds: int,
        clock: Callable[[], float] = wall_clock,
    ) -> None:
        self.conn = conn
        self.client = client
        self.interval_seconds = interval_seconds
        self.clock = clock

    def poll(self) -> int:
        """One poll; returns the number of devices seen. A failed poll stores no samples (a
        gap is honest; a guessed 'offline' would not be) and records the error."""
        at = self.clock()
        try:
            devices = self.client.list_devices()
        except Exception as exc:
            writes.record_collector(self.conn, COLLECTOR, at, error=_one_line(exc))
            raise
        observations = [observe(d, at, self.interval_seconds) for d in devices]
        writes.write_presence(self.conn, at, observations)
        writes.record_collector(self.conn, COLLECTOR, at)
        # requests read before this mapping existed get their identity now (store/backfill.py);
        # a failure here is the scheduler's to log, and the next poll resumes from the mark
        backfill_identity(self.conn, IdentityResolver.from_database(self.conn))
        return len(observations)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
