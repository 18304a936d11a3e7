"""Per-process state of a Locust node running a harness scenario (master, worker or local runner).

The master reads the scenario file and the run start; workers receive both in a `harness_config`
message, so a worker on another machine needs nothing but the locustfile and the master's address.
Users wait for that message before they connect.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.event import Event

from harness.core.contract import HEARTBEAT_SECONDS
from harness.core.scenario.config import scenario_from_dict
from harness.core.scenario.schema import Scenario
from harness.loadgen.locuststats import LocustStats
from harness.loadgen.recorder import WindowRecorder
from harness.loadgen.shapes import Plan, build_plan
from harness.loadgen.wakeups import batch_wakeups

READY_TIMEOUT_S = 60.0
SWEEP_INTERVAL_S = 0.25


@dataclass
class Targets:
    platform_url: str = ""  # http(s)://host:port of the emulator
    bot_admin_url: str = ""  # for the abusive client
    app_key: str = ""  # the emulator app's key, for abusive accessToken attempts


@dataclass
class Runtime:
    scenario: Scenario | None = None
    plan: Plan | None = None
    run_start: float = 0.0
    targets: Targets = field(default_factory=Targets)
    recorder: WindowRecorder | None = None
    locust_stats: LocustStats | None = None  # set when the worker starts
    ready: Event = field(default_factory=Event)
    sockets: set[Any] = field(default_factory=set)
    node: str = "local"
    wakeups_batched: bool = False  # libev's collect intervals are set (load.wakeup_batch_ms)
    _sweeper: Any = None

    def configure(self, config: dict[str, Any]) -> None:
        """Apply a harness_config message: scenario, run start and target URLs."""
        self.scenario = scenario_from_dict(config["scenario"], source="master")
        self.plan = build_plan(self.scenario)
        self.run_start = config["run_start"]
        self.targets = Targets(**config["targets"])
        if self.recorder is None or self.recorder.run_start != self.run_start:
            load = self.scenario.load
            self.recorder = WindowRecorder(self.run_start, load.window_s, hold_s=load.reply_timeout_s + 1)
        self.wakeups_batched = batch_wakeups(self.scenario.load.wakeup_batch_ms / 1000)
        if self._sweeper is None:
            self._sweeper = gevent.spawn(self._sweep_forever)
        self.ready.set()

    def wait_ready(self) -> None:
        if not self.ready.wait(READY_TIMEOUT_S):
            raise RuntimeError("no harness_config from the Locust master; is the master a harness run?")

    def sim_now(self) -> float:
        assert self.plan is not None
        return self.plan.timemap.sim_at_unix(time.time(), self.run_start)

    def _sweep_forever(self) -> None:
        """Time out replies that never came, close retired sockets once settled, keep idle ones alive."""
        next_ping = time.monotonic() + HEARTBEAT_SECONDS
        while True:
            gevent.sleep(SWEEP_INTERVAL_S)
            now = time.monotonic()
            ping = now >= next_ping
            if ping:
                next_ping = now + HEARTBEAT_SECONDS
            if self.locust_stats is not None:
                self.locust_stats.flush()
            for sock in list(self.sockets):
                sock.sweep(now)
                if sock.settled():
                    sock.close()
                    self.sockets.discard(sock)
                elif ping:
                    sock.ping()


RUNTIME = Runtime()
