"""The locustfile of every harness run: `locust -f scenarios/locustfile.py --harness-scenario FILE ...`.

Wires the scenario into Locust: user classes and their weights, the shape (scenarios/shapes.py), the
per-window histograms (workers ship them, the master merges them into windows.jsonl) and the
loadgen_* Prometheus exporter on the master. Run it through `harness run`; docs/scaling.md shows how
to add workers on other machines.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

import gevent
from locust import LoadTestShape, events
from locust.runners import LocalRunner, MasterRunner, WorkerRunner
from prometheus_client import CollectorRegistry, start_http_server

from harness.core.readiness import write_ready_file
from harness.core.scenario.config import load_scenario, resolved_dict
from harness.core.scenario.schema import Scenario
from harness.loadgen.locuststats import LocustStats, forget_old_seconds
from harness.loadgen.runtime import RUNTIME
from harness.loadgen.shapes import Plan, build_plan
from harness.loadgen.users import (
    CHAT_USER_CLASSES,
    AbusiveClient,
    GroupEmployee,
    GroupMember,
    OneToOneEmployee,
    SmokeUser,
)
from harness.loadgen.windows import LiveTotals, LoadgenCollector, WindowMerger, open_windows_file

__all__ = ["AbusiveClient", "GroupEmployee", "GroupMember", "OneToOneEmployee", "ScenarioShape", "SmokeUser"]

log = logging.getLogger("harness.loadgen")
FINAL_FLUSH_TIMEOUT_S = 15.0
TICK_LOOKAHEAD_S = 0.5
LIVE_INTERVAL_S = 2.0
STATS_HISTORY_KEEP = 720


class MasterState:
    """The master's side of a run: the clock, the merged windows and what workers have flushed."""

    def __init__(self, environment: Any, scenario: Scenario, run_dir: Path):
        self.environment = environment
        self.scenario = scenario
        self.plan: Plan = build_plan(scenario)
        self.run_dir = run_dir
        self.run_start = 0.0
        self.merger: WindowMerger | None = None
        self.finals: set[str] = set()
        self.flush_asked_at = 0.0
        self.stop_requested = False
        self.by_worker: dict[str, dict[str, int]] = {}
        self.live = LiveTotals()

    def workers(self) -> set[str]:
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            return {c.id for c in runner.clients.all}
        return {"local"}

    def config_message(self) -> dict[str, Any]:
        opts = self.environment.parsed_options
        return {
            "scenario": resolved_dict(self.scenario),
            "run_start": self.run_start,
            "targets": {
                "platform_url": opts.harness_platform_url,
                "bot_admin_url": opts.harness_bot_admin_url,
                "app_key": opts.harness_app_key,
            },
        }

    def begin(self) -> None:
        """Start the clock (first shape tick or test_start, whichever comes first)."""
        if self.run_start:
            return
        self.run_start = time.time()
        (self.run_dir / "timemap.json").write_text(json.dumps(self.plan.timemap.to_json(self.run_start), indent=1))
        runner = self.environment.runner
        load = self.scenario.load
        # workers hold a window until its replies are due; the master waits that long plus two windows
        self.merger = WindowMerger(
            open_windows_file(self.run_dir),
            self.plan.timemap,
            self.run_start,
            load.window_s,
            lambda: runner.user_count,
            grace_s=load.reply_timeout_s + 1 + 3 * load.window_s,
        )
        runner.send_message("harness_config", self.config_message())
        gevent.spawn(self._merge_forever)

    def request_stop(self) -> None:
        """SIGINT from the orchestrator (run aborted, or Ctrl-C): end the shape through its normal drain.

        Locust's default would raise KeyboardInterrupt in whichever greenlet runs at that instant, possibly
        mid-merge; ending the shape instead keeps the workers' last windows and writes loadgen.json.
        """
        if self.stop_requested:
            log.info("stop already requested; still collecting the workers' last windows")
            return
        log.info("stop requested: asking workers for their last windows, then quitting")
        self.stop_requested = True

    def drain_settled(self) -> bool:
        """In the drain, every message has its outcome and no late reply is due: the rest of the drain
        (a reply timeout) would count nothing more, so the run ends now. Snapshots taken a couple of
        intervals after the shape went to zero users cannot include a user still sending."""
        if not self.run_start:
            return False
        users_gone = self.run_start + self.plan.play_s + 2 * LIVE_INTERVAL_S
        return self.live.settled(self.workers(), users_gone, self.scenario.load.reply_timeout_s)

    def sim_now(self) -> float:
        if not self.run_start:
            return self.plan.timemap.sim_start
        return self.plan.timemap.sim_at_unix(time.time(), self.run_start)

    def on_windows(self, environment: Any, msg: Any, **_: Any) -> None:
        if self.merger is None:
            return
        self.merger.add(msg.node_id, msg.data["windows"])
        totals = self.by_worker.setdefault(msg.node_id, {})
        for window in msg.data["windows"]:
            for key, n in window["counts"].items():
                totals[key] = totals.get(key, 0) + n
        if msg.data.get("final"):
            self.finals.add(msg.node_id)

    def on_hello(self, environment: Any, msg: Any, **_: Any) -> None:
        """A worker's handlers are ready: one that joins after the start gets the scenario and the clock
        now (before the start, begin() sends them to every worker)."""
        if self.run_start:
            self.environment.runner.send_message("harness_config", self.config_message(), client_id=msg.node_id)

    def on_live(self, environment: Any, msg: Any, **_: Any) -> None:
        self.live.add(msg.node_id, msg.data)

    def _merge_forever(self) -> None:
        while self.merger is not None:  # finish() ends the loop
            try:
                self.merger.sample_users()
                self.merger.flush(self.workers())
            except Exception:  # keep merging: a bad window must not stop windows.jsonl
                log.exception("merging windows failed once")
            # Locust keeps a chart point every 5 s for its web UI, forever (its master grows on week-long
            # runs); an hour of them is plenty, the run's own record is windows.jsonl
            history = self.environment.runner.stats.history
            if len(history) > 2 * STATS_HISTORY_KEEP:
                del history[:-STATS_HISTORY_KEEP]
            forget_old_seconds(self.environment.runner.stats, time.time())
            gevent.sleep(1.0)

    def closing_done(self) -> bool:
        """Ask workers for their final windows once; done when all answered or the wait timed out."""
        if not self.flush_asked_at:
            self.flush_asked_at = time.monotonic()
            self.environment.runner.send_message("harness_flush", {})
        return self.workers() <= self.finals or time.monotonic() - self.flush_asked_at > FINAL_FLUSH_TIMEOUT_S

    def finish(self) -> None:
        if self.merger is None:
            return
        try:
            self.merger.flush(self.workers(), final=True)
        except Exception:  # the summary below still records what was counted
            log.exception("the final merge of windows failed")
        self.merger.out.close()
        summary = {
            "workers": self.by_worker,
            "totals": dict(self.merger.totals),
            "workers_missing_final": sorted(self.workers() - self.finals),
        }
        (self.run_dir / "loadgen.json").write_text(json.dumps(summary, indent=1))
        self.merger = None


MASTER: MasterState | None = None


class ScenarioShape(LoadTestShape):
    """Users online now, from the scenario's plan; a zero-user drain; then the final flush and stop."""

    def tick(self) -> tuple[int, float] | None:
        if MASTER is None:
            return None
        MASTER.begin()
        # Locust ticks once a second and needs a moment to spawn: aim at the middle of the next second
        users = MASTER.plan.users_at(time.time() - MASTER.run_start + TICK_LOOKAHEAD_S)
        if users is None or MASTER.stop_requested or (users == 0 and MASTER.drain_settled()):
            return None if MASTER.closing_done() else (0, MASTER.plan.spawn_rate())
        return users, MASTER.plan.spawn_rate()


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--harness-scenario", default="", help="scenario TOML (resolved copy in the run folder)")
    parser.add_argument("--harness-run-dir", default="", help="run folder for windows.jsonl and timemap.json")
    parser.add_argument("--harness-platform-url", default="", help="emulator base URL (http://host:port)")
    parser.add_argument("--harness-bot-admin-url", default="", help="bot admin API, for the abusive client")
    parser.add_argument("--harness-app-key", default="", help="emulator app key, for abusive accessToken calls")
    parser.add_argument("--harness-ready-file", default="", help="where the master writes its exporter URL")


def _apply_mix(environment: Any, scenario: Scenario) -> None:
    mix = scenario.mix
    for key, cls in CHAT_USER_CLASSES.items():
        cls.weight = getattr(mix, key)
    SmokeUser.fixed_count = 1 if mix.smoke_interval_s > 0 else 0
    SmokeUser.weight = 0
    AbusiveClient.fixed_count = 1 if scenario.abuse.logins_per_minute > 0 else 0
    AbusiveClient.weight = 0
    environment.user_classes[:] = [c for c in environment.user_classes if c.weight > 0 or c.fixed_count > 0]


def _start_master(environment: Any) -> None:
    global MASTER
    opts = environment.parsed_options
    if not opts.harness_scenario or not opts.harness_run_dir:
        raise SystemExit("the harness locustfile needs --harness-scenario and --harness-run-dir (use `harness run`)")
    scenario = load_scenario(opts.harness_scenario)
    _apply_mix(environment, scenario)
    MASTER = MasterState(environment, scenario, Path(opts.harness_run_dir))
    environment.runner.register_message("harness_windows", MASTER.on_windows)
    environment.runner.register_message("harness_live", MASTER.on_live)
    environment.runner.register_message("harness_hello", MASTER.on_hello)
    registry = CollectorRegistry()
    registry.register(LoadgenCollector(MASTER.live, lambda: environment.runner.user_count, MASTER.sim_now))
    server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    gevent.signal_handler(signal.SIGINT, MASTER.request_stop)
    write_ready_file(opts.harness_ready_file, metrics=f"http://127.0.0.1:{server.server_port}/metrics")


def _start_worker(environment: Any) -> None:
    runner = environment.runner
    locust_stats = RUNTIME.locust_stats = LocustStats(environment)

    def on_config(environment: Any, msg: Any, **_: Any) -> None:
        RUNTIME.node = str(getattr(runner, "worker_index", 0))
        RUNTIME.configure(msg.data)

    flushed = False

    def on_flush(environment: Any = None, msg: Any = None, **_: Any) -> None:
        """Ship every window, settled or not: the master asked (end of run) or the test is stopping."""
        nonlocal flushed
        if flushed:
            return
        flushed = True
        locust_stats.flush()  # Locust's own statistics: every reply so far
        recorder = RUNTIME.recorder
        if recorder is not None:
            runner.send_message("harness_live", recorder.take_live())
        runner.send_message("harness_windows", {"windows": recorder.take_all() if recorder else [], "final": True})
        if recorder is not None:
            log.info("harness worker totals %s", json.dumps(dict(recorder.totals)))

    def ship_forever() -> None:
        """Every LIVE_INTERVAL_S: what just happened (live), and the windows that have settled."""
        while True:
            gevent.sleep(LIVE_INTERVAL_S)
            recorder = RUNTIME.recorder
            if recorder is None or flushed:
                continue
            runner.send_message("harness_live", recorder.take_live())
            payloads = recorder.take_closed()
            if payloads:
                runner.send_message("harness_windows", {"windows": payloads, "final": False})

    runner.register_message("harness_config", on_config)
    runner.register_message("harness_flush", on_flush)
    # Locust may deliver the master's messages before this init hook has registered the handlers (a
    # config sent then is dropped as unknown and the worker never sends): say hello once they are in place
    runner.send_message("harness_hello", {})
    environment.events.test_stop.add_listener(on_flush)  # stopped early (the run aborted): keep what we have
    gevent.spawn(ship_forever)


@events.init.add_listener
def _on_init(environment: Any, runner: Any = None, **_: Any) -> None:
    if isinstance(runner, (MasterRunner, LocalRunner)):
        _start_master(environment)
    if isinstance(runner, (WorkerRunner, LocalRunner)):
        _start_worker(environment)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    if MASTER is not None:
        MASTER.begin()


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    if MASTER is not None:
        MASTER.finish()
