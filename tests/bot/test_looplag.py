"""The event-loop lag probe: a blocked loop shows as lag, an idle one does not, and stop() cancels it."""

from __future__ import annotations

import asyncio
import time

import pytest

from reference_bot.looplag import LoopLagProbe
from reference_bot.metrics import BotMetrics
from tests.aio import async_test, wait_for

pytestmark = pytest.mark.unit

LAG = "chatbot_event_loop_lag_seconds"


def _count(metrics: BotMetrics, le: str = "+Inf") -> float:
    return metrics.value(f"{LAG}_bucket", le=le)


@async_test
async def test_blocking_the_loop_is_observed_as_lag_and_stop_cancels_the_probe():
    metrics = BotMetrics("test", 10)
    probe = LoopLagProbe(metrics.event_loop_lag, 0.05)
    probe.start()
    try:
        await wait_for(lambda: _count(metrics) >= 3, "three idle probes")
        idle = _count(metrics)
        time.sleep(0.6)  # CPU-bound work stand-in: the loop cannot run anything meanwhile
        await wait_for(lambda: _count(metrics) > idle, "the probe after the block")
        blocked = _count(metrics) - _count(metrics, "0.5")
        assert blocked >= 1, "a 0.6 s block must land in a bucket above 0.5 s"
    finally:
        await probe.stop()
    stopped = _count(metrics)
    await asyncio.sleep(0.2)  # four probe intervals: a live probe would have observed again
    assert _count(metrics) == stopped


def test_lag_buckets_resolve_milliseconds_to_seconds():
    metrics = BotMetrics("test", 10)
    metrics.event_loop_lag.observe(0.0004)
    metrics.event_loop_lag.observe(0.2)
    assert _count(metrics, "0.001") == 1 and _count(metrics, "0.1") == 1 and _count(metrics, "0.25") == 2
    assert _count(metrics, "5.0") == 2
