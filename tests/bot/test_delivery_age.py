"""The wait a message brings with it: its age at arrival against the floor of recent arrivals."""

import pytest

from reference_bot.delivery_age import DeliveryAges

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_fresh_pushes_waited_nothing_whatever_the_clock_offset_and_a_redelivery_brings_its_wait():
    clock = Clock(10_000.0)
    ages = DeliveryAges(recent=4, clock=clock)
    skew = 42.0  # this host's clock is 42 s ahead of the platform's
    created = lambda ago: int((clock.t - skew - ago) * 1000)  # noqa: E731
    assert ages.waited_before(created(0.004)) == 0.0  # the first arrival is its own floor
    assert ages.waited_before(created(0.002)) == 0.0
    assert ages.waited_before(created(0.003)) == pytest.approx(0.001, abs=1e-3)
    assert ages.waited_before(created(30.0)) == pytest.approx(30.0, abs=1e-2)  # redelivered after 30 s
    assert ages.waited_before(0) == 0.0  # no createAt: nothing to go on


def test_a_redelivery_before_any_fresh_push_is_taken_as_fresh_and_a_clock_step_ages_out():
    clock = Clock(5_000.0)
    ages = DeliveryAges(recent=3, clock=clock)
    assert ages.waited_before(int((clock.t - 20.0) * 1000)) == 0.0  # errs towards answering
    assert ages.waited_before(int(clock.t * 1000)) == 0.0
    assert ages.waited_before(int((clock.t - 20.0) * 1000)) == pytest.approx(20.0, abs=1e-2)
    clock.t += 100.0  # this host's clock steps 100 s ahead: arrivals look 100 s old
    stepped = [ages.waited_before(int((clock.t - 100.0) * 1000)) for _ in range(3)]
    assert stepped[0] == pytest.approx(100.0, abs=1e-2)  # the floor still holds the pre-step arrival
    assert stepped[-1] == pytest.approx(0.0, abs=1e-2)  # three arrivals later it has aged out
