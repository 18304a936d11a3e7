"""The open-API pacer on an injected clock: unlimited until the platform refuses, then just under it."""

import pytest

from reference_bot.pacer import MIN_RATE, Pacer
from tests.aio import async_test

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@async_test
async def test_no_pacing_until_a_rate_limit_answer_then_calls_are_spaced():
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    for _ in range(30):  # 30 calls inside one second: nothing learned, nobody waits
        assert await pacer.acquire("card_streaming") == 0
        clock.now += 1 / 30
    assert pacer.rate("card_streaming") is None
    pacer.limited("card_streaming")
    assert pacer.rate("card_streaming") == pytest.approx(0.8 * 29, rel=0.05)  # under the recent call rate
    waits = [await pacer.acquire("card_streaming") for _ in range(5)]
    assert waits[0] == 0 and all(w == pytest.approx(1 / pacer.rate("card_streaming")) for w in waits[1:])
    assert pacer.rate("robot_send") is None  # per API


def test_a_burst_of_refusals_lowers_the_rate_once_per_second():
    clock = Clock()
    pacer = Pacer(clock=clock)
    pacer._reserve("x")  # one recent call
    pacer.limited("x")
    first = pacer.rate("x")
    for _ in range(10):
        pacer.limited("x")
    assert pacer.rate("x") == first == MIN_RATE
    clock.now += 1.5
    pacer.succeeded("x")
    assert pacer.rate("x") > first  # a quiet second raises it again


def test_the_rate_never_falls_below_the_floor():
    clock = Clock()
    pacer = Pacer(clock=clock)
    for _ in range(20):
        pacer.limited("x")
        clock.now += 2
    assert pacer.rate("x") == MIN_RATE
