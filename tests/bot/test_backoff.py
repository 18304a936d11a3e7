import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_bot.backoff import ReconnectPolicy, backoff_bounds, backoff_delay, backoff_schedule

pytestmark = pytest.mark.unit

RECONNECT = {"initial": 1.0, "factor": 2.0, "cap": 300.0, "jitter": 0.2}


def test_reconnect_schedule_doubles_up_to_the_five_minute_cap():
    no_jitter = backoff_schedule([0.0] * 12, **RECONNECT)
    assert no_jitter == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]


def test_jitter_only_shortens_and_stays_within_bounds():
    assert backoff_delay(3, rand=0.5, **RECONNECT) == pytest.approx(8 * 0.9)
    assert backoff_bounds(20, **RECONNECT) == (pytest.approx(240.0), 300.0)


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0.0, max_value=0.999))
def test_every_delay_respects_the_cap(attempt, rand):
    delay = backoff_delay(attempt, rand=rand, **RECONNECT)
    low, high = backoff_bounds(attempt, **RECONNECT)
    assert 0 < low <= delay <= high <= 300.0


def test_retry_policy_factor_one_and_a_half():
    assert backoff_schedule([0, 0, 0], initial=0.2, factor=1.5, cap=10, jitter=0) == pytest.approx([0.2, 0.3, 0.45])


def test_policy_resets_only_after_a_stable_connection():
    policy = ReconnectPolicy(stable_after=60.0, rand=lambda: 0.0, **RECONNECT)
    assert [policy.next_delay() for _ in range(3)] == [1, 2, 4]
    policy.connected(now=100.0)
    policy.disconnected(now=110.0)  # up 10 s: flapping, keep backing off
    assert policy.next_delay() == 8
    policy.connected(now=200.0)
    policy.disconnected(now=260.0)  # up 60 s: stable, start again
    assert policy.next_delay() == 1
