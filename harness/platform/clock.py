"""The emulator's clock, injected like the reference bot's: tests step time forward instead of sleeping.

`monotonic()` times everything that is a duration or a deadline (latency, ACK and reply timeouts,
ticket expiry, redelivery and grace delays, QPS buckets); `wall()` (unix seconds) dates what goes on
the wire or into files (token expiry claims, webhook expiry, timestamps).
"""

from __future__ import annotations

import time


class Clock:
    """The system clocks. A test passes its own object with the same two methods."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


SYSTEM_CLOCK = Clock()
