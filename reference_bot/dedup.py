"""Remembers recently seen msgIds, bounded in count and in time, to answer redeliveries once."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RecentIds:
    def __init__(self, capacity: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.ttl = ttl_seconds
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()  # insertion order == expiry order

    def __len__(self) -> int:
        return len(self._expiry)

    def __contains__(self, msg_id: str) -> bool:
        expiry = self._expiry.get(msg_id)
        return expiry is not None and expiry > self._clock()

    def add(self, msg_id: str) -> bool:
        """Remember msg_id; False if it was already there (a duplicate)."""
        now = self._clock()
        self._purge(now)
        if msg_id in self._expiry:
            return False
        self._expiry[msg_id] = now + self.ttl
        while len(self._expiry) > self.capacity:
            self._expiry.popitem(last=False)
        return True

    def discard(self, msg_id: str) -> None:
        self._expiry.pop(msg_id, None)

    def _purge(self, now: float) -> None:
        while self._expiry:
            oldest, expiry = next(iter(self._expiry.items()))
            if expiry > now:
                return
            del self._expiry[oldest]
