import pytest

from reference_bot.dedup import RecentIds

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_duplicate_detected_until_the_ttl_passes():
    clock = Clock()
    ids = RecentIds(capacity=10, ttl_seconds=60, clock=clock)
    assert ids.add("m1") is True
    assert "m1" in ids and ids.add("m1") is False
    clock.now = 61
    assert "m1" not in ids
    assert ids.add("m1") is True


def test_memory_is_bounded_by_count_and_by_time():
    clock = Clock()
    ids = RecentIds(capacity=100, ttl_seconds=10, clock=clock)
    for i in range(1000):
        ids.add(f"m{i}")
    assert len(ids) == 100 and "m999" in ids and "m0" not in ids
    clock.now = 11
    ids.add("fresh")
    assert len(ids) == 1
