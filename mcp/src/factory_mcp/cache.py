"""A small TTL cache for upstream answers that cannot change for a while.

Why: a published hour's price never changes and the model often asks the same question twice
in one conversation; the factory API is slow (Influx, Prophet). Entries expire by monotonic
time, and the cache is bounded so a long-running server cannot grow without limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class TTLCache:
    """Least-recently-used entries with a per-entry time to live."""

    def __init__(self, max_entries: int = 512, clock: Callable[[], float] = time.monotonic):
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def get(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any, ttl_s: float) -> None:
        self._entries[key] = (self._clock() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
