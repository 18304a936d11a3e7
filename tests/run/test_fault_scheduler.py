"""The run plays a scenario's `[[faults]]` on its simulated clock through a real emulator's /admin/faults."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from harness.core.scenario.config import parse_scenario
from harness.loadgen.shapes import build_plan
from harness.platform import AppConfig, PlatformServer, Settings
from harness.run.pollers import FaultScheduler, http_json

pytestmark = pytest.mark.integration


@contextmanager
def emulator(faults: dict) -> Iterator[str]:
    """A real emulator on 127.0.0.1, serving from its own thread (the scheduler's HTTP calls block)."""
    loop = asyncio.new_event_loop()
    server = PlatformServer(Settings(apps=(AppConfig(app_id="a", secret="s"),)), faults)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(30), "the emulator did not start"
    try:
        yield server.url
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def test_faults_are_applied_at_their_simulated_time_and_put_back_at_until():
    scenario = parse_scenario(
        {
            "shape": {"kind": "smoke", "start": "Tue 10:00", "duration_s": 60},
            "faults": [
                {"at": "Tue 10:00:10", "until": "Tue 10:00:30", "set": {"push_drop_ratio": 0.5, "qps_mode": "403"}},
                {"at": "Tue 10:00:20", "set": {"errors": {"card_streaming": {"status": 429, "ratio": 0.3}}}},
            ],
        },
        "x",
    )
    timemap = build_plan(scenario).timemap
    applied: list[dict] = []
    with emulator({"push_drop_ratio": 0.1}) as url:
        scheduler = FaultScheduler(url, scenario.faults, applied.append)
        faults = url + "/admin/faults"
        scheduler.tick(timemap, wall=9.0, sim=0)
        assert applied == [] and http_json(faults)["push_drop_ratio"] == 0.1
        scheduler.tick(timemap, wall=10.0, sim=0)
        now = http_json(faults)
        assert (now["push_drop_ratio"], now["qps_mode"]) == (0.5, "403")
        scheduler.tick(timemap, wall=25.0, sim=0)
        assert http_json(faults)["errors"] == {"card_streaming": {"status": 429, "ratio": 0.3}}
        scheduler.tick(timemap, wall=31.0, sim=0)
        now = http_json(faults)
        assert (now["push_drop_ratio"], now["qps_mode"]) == (0.1, None)  # back to what was in force before
        assert now["errors"] == {"card_streaming": {"status": 429, "ratio": 0.3}}  # not an `until` key
    assert [a["step"] for a in applied] == [
        "faults[0] at Tue 10:00:10",
        "faults[1] at Tue 10:00:20",
        "faults[0] until Tue 10:00:30",
    ]
