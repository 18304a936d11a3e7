"""Backoff schedules as pure functions, so tests check the schedule instead of timing sleeps.

Used twice: stream reconnects (factor 2, capped at 5 minutes, reset after a stable connection) and
the replier's retry policy (factor 1.5). Jitter only ever shortens a delay, so the cap holds exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable


def backoff_delay(attempt: int, *, initial: float, factor: float, cap: float, jitter: float, rand: float) -> float:
    """Delay before retry number `attempt` (0-based): initial * factor**attempt, capped, minus jitter.

    `rand` in [0, 1) picks where in [base * (1 - jitter), base] the delay falls.
    """
    base = initial
    for _ in range(max(0, attempt)):
        if base >= cap or factor == 1.0:
            break
        base *= factor
    base = min(base, cap)
    return base * (1.0 - jitter * rand)


def backoff_bounds(attempt: int, *, initial: float, factor: float, cap: float, jitter: float) -> tuple[float, float]:
    """The interval a jittered delay for `attempt` lies in."""
    low = backoff_delay(attempt, initial=initial, factor=factor, cap=cap, jitter=jitter, rand=1.0)
    high = backoff_delay(attempt, initial=initial, factor=factor, cap=cap, jitter=jitter, rand=0.0)
    return low, high


def backoff_schedule(
    rands: Iterable[float], *, initial: float, factor: float, cap: float, jitter: float
) -> list[float]:
    """The delays of consecutive attempts for the given random draws."""
    return [
        backoff_delay(n, initial=initial, factor=factor, cap=cap, jitter=jitter, rand=r) for n, r in enumerate(rands)
    ]


class ReconnectPolicy:
    """Counts consecutive failed attempts; a connection that stayed up long enough resets the count."""

    def __init__(
        self,
        *,
        initial: float,
        factor: float,
        cap: float,
        jitter: float,
        stable_after: float,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.initial, self.factor, self.cap, self.jitter = initial, factor, cap, jitter
        self.stable_after = stable_after
        self.attempt = 0
        self._rand = rand
        self._connected_at: float | None = None

    def connected(self, now: float) -> None:
        self._connected_at = now

    def disconnected(self, now: float) -> None:
        if self._connected_at is not None and now - self._connected_at >= self.stable_after:
            self.attempt = 0
        self._connected_at = None

    def next_delay(self) -> float:
        delay = backoff_delay(
            self.attempt, initial=self.initial, factor=self.factor, cap=self.cap, jitter=self.jitter, rand=self._rand()
        )
        self.attempt += 1
        return delay
