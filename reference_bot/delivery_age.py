"""How long a message had already waited when this bot received it.

A push the platform redelivers (its first receiver died or disconnected before the ACK) reaches the
next connection with the wait behind it, and the queue deadline should count that wait, not start
afresh. The message's `createAt` is the platform's clock; this host's clock may be off by any amount,
so the age at arrival (now - createAt) is read against the smallest age among recent arrivals: that
floor is the clock offset plus the network, what a fresh push shows. A fresh push then waited about
zero, a redelivery the difference. Until a fresh push has been seen the floor is the redelivery's own
age, so the estimate errs towards answering, never towards shedding.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

RECENT = 256  # arrivals the floor is taken over: a clock step leaves the estimate after this many


class DeliveryAges:
    def __init__(self, recent: int = RECENT, clock: Callable[[], float] = time.time) -> None:
        self._recent = recent
        self._clock = clock
        self._seen = 0
        # (arrival number, age) with ages increasing: the first is the floor of the last `recent` (a
        # sliding-window minimum, amortised O(1) per arrival)
        self._floor: deque[tuple[int, float]] = deque()

    def waited_before(self, created_at_ms: int) -> float:
        """Seconds the message waited before it reached this bot (0 without a createAt)."""
        if created_at_ms <= 0:
            return 0.0
        age = self._clock() - created_at_ms / 1000
        self._seen += 1
        while self._floor and self._floor[-1][1] >= age:
            self._floor.pop()
        self._floor.append((self._seen, age))
        if self._floor[0][0] <= self._seen - self._recent:
            self._floor.popleft()
        return age - self._floor[0][1]
