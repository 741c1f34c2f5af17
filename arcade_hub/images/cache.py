"""A small in-memory TTL cache with stale-if-error reads and an injectable clock."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

Clock = Callable[[], float]


@dataclass(frozen=True)
class CacheEntry:
    value: Any
    expires: float

    def fresh(self, now: float) -> bool:
        return now < self.expires

    def usable_stale(self, now: float, stale_for: float) -> bool:
        return now < self.expires + stale_for


class TTLCache:
    """Maps keys to values that expire; the least recently stored entries are evicted first."""

    def __init__(self, clock: Clock, max_entries: int = 4096) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, CacheEntry] = OrderedDict()

    def get(self, key: Hashable) -> CacheEntry | None:
        return self._entries.get(key)

    def set(self, key: Hashable, value: Any, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (``math.inf`` for content-addressed data)."""
        expires = math.inf if math.isinf(ttl) else self.clock() + ttl
        self._entries.pop(key, None)
        self._entries[key] = CacheEntry(value, expires)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
