"""Client-side pacing of open-API calls, learned from the platform's own rate-limit answers.

Without it a bot that meets a QPS limit just retries: every retry is another call over the limit, so
under a limit slightly below the bot's call rate most retries fail too and messages are lost. The
pacer starts unlimited; the first rate-limit answer (429, or DingTalk's 403 QpsLimit code) for an API
sets a rate a little under what the bot was calling at, each further one lowers it (at most once a
second, so one burst of refusals counts once), and a quiet second raises it again by a few percent,
so the bot settles just under the platform's limit. The retry policy works on top of it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MIN_RATE = 1.0  # calls per second: never pace an API below this
DECREASE = 0.8  # a rate-limit answer: the new rate is this share of the recent call rate
INCREASE = 1.05  # a second without one: the rate grows by 5 % ...
STEP = 1.0  # ... plus one call per second
WINDOW_S = 1.0


@dataclass
class _ApiPace:
    rate: float | None = None  # None: no limit learned
    next_slot: float = 0.0
    last_change: float = -1e9
    started: deque[float] = field(default_factory=deque)  # call start times inside the last WINDOW_S


class Pacer:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._apis: dict[str, _ApiPace] = {}

    def rate(self, api: str) -> float | None:
        """The pace in force for `api` in calls per second, None when unlimited."""
        pace = self._apis.get(api)
        return pace.rate if pace else None

    def _reserve(self, api: str) -> float:
        """Seconds the caller must wait before its call, the slot taken."""
        now = self._clock()
        pace = self._apis.setdefault(api, _ApiPace())
        pace.started.append(now)
        while pace.started and pace.started[0] <= now - WINDOW_S:
            pace.started.popleft()
        if pace.rate is None:
            return 0.0
        slot = max(now, pace.next_slot)
        pace.next_slot = slot + 1.0 / pace.rate
        return slot - now

    async def acquire(self, api: str) -> float:
        """Wait for this call's turn; returns the seconds waited."""
        wait = self._reserve(api)
        if wait > 0:
            await self._sleep(wait)
        return wait

    def limited(self, api: str) -> None:
        """The platform answered a call of `api` with a rate limit."""
        now = self._clock()
        pace = self._apis.setdefault(api, _ApiPace())
        if now - pace.last_change < WINDOW_S:
            return
        recent = len(pace.started) / WINDOW_S
        base = recent if pace.rate is None else min(pace.rate, recent or pace.rate)
        pace.rate = max(MIN_RATE, base * DECREASE)
        pace.last_change = now

    def succeeded(self, api: str) -> None:
        pace = self._apis.get(api)
        if pace is None or pace.rate is None:
            return
        now = self._clock()
        if now - pace.last_change >= WINDOW_S:
            pace.rate = pace.rate * INCREASE + STEP
            pace.last_change = now
