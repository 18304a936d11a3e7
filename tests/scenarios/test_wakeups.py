"""libev's collect intervals on gevent's loop: timers that fall due close together are handled in one
loop iteration (one wake-up) instead of one each."""

import gevent
import pytest

from harness.loadgen.wakeups import batch_wakeups

pytestmark = pytest.mark.unit


def iterations_for_staggered_timers(count: int = 10, spacing_s: float = 0.01) -> int:
    loop = gevent.get_hub().loop
    before = loop.iteration
    gevent.joinall([gevent.spawn_later(spacing_s * (i + 1), lambda: None) for i in range(count)], timeout=5)
    return loop.iteration - before


def test_a_collect_interval_handles_timers_due_together_in_fewer_loop_iterations():
    assert batch_wakeups(0.0)
    unbatched = iterations_for_staggered_timers()
    try:
        assert batch_wakeups(0.2)
        batched = iterations_for_staggered_timers()
    finally:
        batch_wakeups(0.0)
    # a wake-up per timer, 10 ms apart (a busy machine may run a few late timers together: hence not 10)
    assert unbatched >= 5
    assert batched <= 2  # all ten within 100 ms, polled at most every 200 ms
    assert iterations_for_staggered_timers() >= 5  # back to libev's default
