"""Batched replies give Locust the statistics one request event per reply would have given.

Importing locust monkey-patches the whole process with gevent, which breaks the asyncio and
subprocess tests that share the pytest process; so the checks run in a child Python.
"""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

CHECKS = """
from locust import User
from locust.env import Environment

from harness.loadgen.locuststats import PER_SECOND_KEEP_S, REQUEST_TYPE, LocustStats, forget_old_seconds


class Idle(User):
    abstract = False


def environment():
    env = Environment(user_classes=[Idle])
    env.create_local_runner()  # its request listener is what logs one event per request
    return env


REPLIES = [("1:1 reply", ms, 40 + i) for i, ms in enumerate([3.2, 17.9, 150.4, 149.6, 2300.0, 0.4])] + [
    ("group reply", ms, 10) for ms in (8.1, 99.5, 101.0)
]
batched, per_event = environment(), environment()
stats = LocustStats(batched)
for name, ms, length in REPLIES:
    stats.success(name, ms, length)
    per_event.events.request.fire(
        request_type=REQUEST_TYPE, name=name, response_time=ms, response_length=length, exception=None, context={}
    )
assert batched.stats.total.num_requests == 0, "nothing until the sweep folds the batch in"
stats.flush()
stats.flush()  # an empty batch adds nothing
for name in ("1:1 reply", "group reply"):
    got, want = batched.stats.get(name, REQUEST_TYPE), per_event.stats.get(name, REQUEST_TYPE)
    assert dict(got.response_times) == dict(want.response_times), name
    assert (got.num_requests, got.min_response_time, got.max_response_time) == (
        want.num_requests, want.min_response_time, want.max_response_time
    ), name
    assert abs(got.total_response_time - want.total_response_time) < 1e-6, name
    assert got.total_content_length == want.total_content_length, name
    assert got.get_response_time_percentile(0.99) == want.get_response_time_percentile(0.99), name
assert batched.stats.total.num_requests == len(REPLIES) == per_event.stats.total.num_requests

failing = environment()
LocustStats(failing).failure("1:1 reply", 5000.0, "no reply: none within 5 s")
assert failing.stats.get("1:1 reply", REQUEST_TYPE).num_failures == 1
assert [e.error for e in failing.stats.errors.values()] == ["no reply: none within 5 s"]

# the master's per-second counts are forgotten after PER_SECOND_KEEP_S; the current RPS stays the same
week = environment()
entry = week.stats.get("1:1 reply", REQUEST_TYPE)
start = int(week.stats.start_time)  # the current RPS reads no second before the stats started
now = start + 1000
for second in range(start, now):
    entry.num_reqs_per_sec[second] += 5
    week.stats.total.num_reqs_per_sec[second] += 5
    if second % 10 == 0:
        entry.num_fail_per_sec[second] += 1
week.stats.total.last_request_timestamp = now  # what RequestStats.last_request_timestamp reads
rps = (entry.current_rps, entry.current_fail_per_sec, week.stats.total.current_rps)
old = 1000 - PER_SECOND_KEEP_S
assert forget_old_seconds(week.stats, now) == 2 * old + old // 10
assert sorted(entry.num_reqs_per_sec) == list(range(now - PER_SECOND_KEEP_S, now))
assert len(week.stats.total.num_reqs_per_sec) == PER_SECOND_KEEP_S and len(entry.num_fail_per_sec) == 6
assert rps[0] > 0 and (entry.current_rps, entry.current_fail_per_sec, week.stats.total.current_rps) == rps
print("ok")
"""


def test_a_flushed_batch_matches_one_event_per_reply_and_failures_stay_events():
    done = subprocess.run([sys.executable, "-c", CHECKS], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
