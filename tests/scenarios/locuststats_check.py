"""Batched replies give Locust the statistics one request event per reply would have given."""

import pytest
from locust import User
from locust.env import Environment

from harness.loadgen.locuststats import REQUEST_TYPE, LocustStats

pytestmark = pytest.mark.unit  # run in its own process by test_locuststats.py


class Idle(User):
    abstract = False


def environment() -> Environment:
    env = Environment(user_classes=[Idle])
    env.create_local_runner()  # its request listener is what logs one event per request
    return env


REPLIES = [("1:1 reply", ms, 40 + i) for i, ms in enumerate([3.2, 17.9, 150.4, 149.6, 2300.0, 0.4])] + [
    ("group reply", ms, 10) for ms in (8.1, 99.5, 101.0)
]


def test_a_flushed_batch_matches_one_event_per_reply():
    batched, per_event = environment(), environment()
    stats = LocustStats(batched)
    for name, ms, length in REPLIES:
        stats.success(name, ms, length)
        per_event.events.request.fire(
            request_type=REQUEST_TYPE, name=name, response_time=ms, response_length=length, exception=None, context={}
        )
    assert batched.stats.total.num_requests == 0  # nothing until the sweep folds the batch in
    stats.flush()
    stats.flush()  # an empty batch adds nothing
    for name in ("1:1 reply", "group reply"):
        got, want = batched.stats.get(name, REQUEST_TYPE), per_event.stats.get(name, REQUEST_TYPE)
        assert dict(got.response_times) == dict(want.response_times)
        assert (got.num_requests, got.min_response_time, got.max_response_time) == (
            want.num_requests,
            want.min_response_time,
            want.max_response_time,
        )
        assert got.total_response_time == pytest.approx(want.total_response_time)
        assert got.total_content_length == want.total_content_length
        assert got.get_response_time_percentile(0.99) == want.get_response_time_percentile(0.99)
    assert batched.stats.total.num_requests == len(REPLIES) == per_event.stats.total.num_requests


def test_failures_are_request_events_with_their_message():
    env = environment()
    LocustStats(env).failure("1:1 reply", 5000.0, "no reply: none within 5 s")
    assert env.stats.get("1:1 reply", REQUEST_TYPE).num_failures == 1
    assert [e.error for e in env.stats.errors.values()] == ["no reply: none within 5 s"]
