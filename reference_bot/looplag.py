"""Event-loop lag probe: how late the loop wakes a timer, the time every coroutine waited for it.

A task sleeps `interval` seconds and observes how much longer than that it actually took. CPU work
or a blocking call on the loop shows up here directly, which tells "the bot's loop was blocked" apart
from "the platform or the engine was slow" (awaits that yield do not delay the probe).
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Histogram


class LoopLagProbe:
    def __init__(self, histogram: Histogram, interval_seconds: float) -> None:
        self.histogram = histogram
        self.interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-loop-lag-probe")

    async def _run(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(self.interval)
            self.histogram.observe(max(0.0, time.monotonic() - asked - self.interval))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
