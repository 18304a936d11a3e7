"""The sequence of one run: start everything healthy, play the shape, stop in order, report.

Startup: sampler exporter -> emulator -> bot (connected to the stream) -> Locust master -> Prometheus
-> Locust workers (the load starts when they connect). Shutdown is the reverse. Any component dying
mid-run, a stop signal (Ctrl-C, SIGTERM), a full disk or a failed start ends the run as `aborted` with
a reason, and the report is still built from what the run folder holds.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from harness.core import procs
from harness.core.contract import (
    ADMIN_TOKEN_ENV,
    DEFAULT_HOST,
    DISK_RESERVE_MB,
    GENERATOR_CPU_SAMPLES,
    RIG,
    RUNS_DIR,
    ExitCode,
)
from harness.core.readiness import NotReady
from harness.core.runfolder.diskspace import MB, DiskReserve, free_bytes, is_disk_full
from harness.core.runfolder.jsonlines import JsonLinesWriter
from harness.core.runfolder.writer import Manifest, new_run_dir, write_json_atomic
from harness.core.scenario.config import resolved_toml
from harness.core.scenario.schema import SLA_FIELDS, Scenario
from harness.core.timemap import TimeMap
from harness.loadgen.shapes import Plan, build_plan
from harness.run import components, prometheus, redis
from harness.run.pollers import FaultScheduler, LedgerPoller, http_json
from harness.run.processes import Component
from harness.run.profiler import ProfilingSchedule
from harness.run.progress import LiveStatus, WindowsTail, emit, progress_line, summary_lines
from harness.run.replicas import Replicas
from harness.run.sampler import Sampler

log = logging.getLogger("harness.run")
FINISH_GRACE_S = 120.0
PROMETHEUS_RESTART_S = 30.0  # how long a Prometheus restarted mid-run may take to be ready again
ANSWER_CACHE, ANSWER_CACHE_URL = "answer_cache.enabled", "answer_cache.url"  # reference-bot config fields


class Abort(Exception):
    """Ends the run early; the message is the manifest's abort_reason."""


class HarnessFailure(Exception):
    """The harness could not measure what it promises (say Prometheus runs without the shipped rules):
    the run ends with exit code HARNESS_ERROR, the one-line message saying what is missing."""


@dataclass
class RunOptions:
    runs_dir: Path = Path(RUNS_DIR)
    workers: int = 0  # 0: the scenario's, else one per core minus the bot's
    prometheus: str = ""  # binary; "" = the scenario's or PATH
    no_prometheus: bool = False
    listen: str = DEFAULT_HOST  # address of the emulator, bot admin API and Locust master
    remote_workers: int = 0  # workers on other machines the master waits for
    master_port: int = 0  # 0: ephemeral (fixed when remote workers must find it)
    progress_every_s: float = 5.0
    sample_every_s: float = 1.0
    out: TextIO = field(default_factory=lambda: sys.stdout)


class Run:
    def __init__(self, scenario: Scenario, options: RunOptions):
        self.scenario = scenario
        self.options = options
        self.plan: Plan = build_plan(scenario)
        self.run_dir = new_run_dir(scenario.name, options.runs_dir)
        self.ready_dir = Path(tempfile.mkdtemp(prefix="harness-ready-"))
        self.components: list[Component] = []
        self.app_secret = secrets.token_urlsafe(32)  # never written to the run folder
        self.admin_password = secrets.token_urlsafe(16)
        # the emulator's /admin/* token: ours when we start it, the environment's for a platform at a URL
        self.admin_token = (
            os.environ.get(ADMIN_TOKEN_ENV, "") if scenario.target.kind == "url" else secrets.token_urlsafe(32)
        )
        self.workers = options.workers or scenario.load.workers or components.default_workers()
        self.run_start: float | None = None
        self.provisional_start = time.time()
        self.timemap: TimeMap = self.plan.timemap
        self.abort_reason: str | None = None
        self.interrupted: str | None = None  # the stop signal received, as a reason
        self.harness_failed = False
        self.platform_url = ""
        self.bot_admin_url = scenario.target.admin_url
        self.bot_metrics_url = scenario.target.metrics_url
        self.alerts: prometheus.AlertPoller | None = None
        self.prometheus_url = ""
        self.prometheus_started = 0.0
        self.ledger: LedgerPoller | None = None
        self.faults: FaultScheduler | None = None
        self.replicas: Replicas | None = None
        self.alertmanager: Any = None
        self.profiler = ProfilingSchedule(
            scenario.profiling,
            self.run_dir / "profiles",
            self._pid_of,
            lambda done: self.manifest.data["profiles"].append(done),
            self._warn,
            on_snapshot=lambda entry: self.manifest.data["memory_snapshots"].append(entry),
        )
        self.tail = WindowsTail(self.run_dir / "windows.jsonl")
        self.live: LiveStatus | None = None
        self.jsonl: list[JsonLinesWriter] = []
        self.disk = DiskReserve(self.run_dir, DISK_RESERVE_MB * MB)
        self.unwritten_ledger: dict[str, Any] | None = None  # kept in memory while the disk is full
        (self.run_dir / "scenario.toml").write_text(resolved_toml(scenario))
        self.manifest = Manifest(
            self.run_dir / "manifest.json",
            scenario=scenario.name,
            scenario_file=scenario.source,
            description=scenario.description,
            target=scenario.target.kind,
            shape=scenario.shape.kind,
            thresholds={k: getattr(scenario.sla, k) for k in SLA_FIELDS},
            reply_timeout_s=scenario.load.reply_timeout_s,
            window_s=scenario.load.window_s,
            planned_wall_s=self.plan.duration_s,
            workers=self.workers,
            faults_applied=[],
            process_faults=[],
            profiles=[],
            memory_snapshots=[],
            prometheus={"available": False, "reason": "the run ended before Prometheus was started"},
            timemap=self.timemap.to_json(None),  # the planned map; replaced by timemap.json's at load start
        )
        self.sampler = Sampler(self._lines("samples.jsonl"), options.sample_every_s, self.clock)
        self._high_cpu: dict[str, int] = {}

    # --- clock -----------------------------------------------------------------------------------------
    def clock(self) -> tuple[float, float]:
        """(wall seconds since the load started, simulated seconds); provisional until Locust starts."""
        start = self.run_start or self.provisional_start
        wall = time.time() - start
        return round(wall, 3), round(self.timemap.sim_at(wall), 1)

    def _lines(self, name: str) -> JsonLinesWriter:
        lines = JsonLinesWriter(self.run_dir / name)
        self.jsonl.append(lines)
        return lines

    def say(self, text: str) -> None:
        emit(self.options.out, text)

    def _warn(self, text: str) -> None:
        self.say(f"warning: {text}")
        self.manifest.warn(text)

    def _pid_of(self, name: str) -> int | None:
        comp = next((c for c in self.components if c.name == name), None)
        return comp.pid if comp is not None and comp.exit_code() is None else None

    # --- the run ---------------------------------------------------------------------------------------
    def execute(self) -> int:
        self.say(f"run folder: {self.run_dir}")
        self.say(
            f"scenario {self.scenario.name}: {self.plan.duration_s:.0f} s wall "
            f"({len(self.timemap.peaks)} peak windows), "
            f"{self.workers} Locust worker(s)"
        )
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.disk.hold()
            self._start()
            self._play()
        except Abort as exc:
            self.abort_reason = str(exc)
        except HarnessFailure as exc:
            self.abort_reason = f"harness error: {exc}"
            self.harness_failed = True
        except Exception as exc:  # the harness failed: still stop everything and report
            if is_disk_full(exc):
                self.abort_reason = f"disk full: {exc}"
            else:
                log.exception("run failed")
                self.abort_reason = f"harness error: {exc}"
                self.harness_failed = True
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self._report()

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        self.interrupted = f"interrupted by {name}" + (" (Ctrl-C)" if signum == signal.SIGINT else "")

    def _launch(self, comp: Component, ready_timeout: float | None = None) -> dict[str, str]:
        self.components.append(comp)
        try:
            comp.start()
        except OSError as exc:  # a program that is not there, or not executable: say which, in one line
            raise Abort(f"{comp.name} could not be started: {exc.strerror or exc}: {comp.argv[0]}") from None
        self.manifest.component(comp.name, pid=comp.pid, command=list(comp.argv), log=str(comp.log_path))
        self.sampler.watch(comp.name, comp.pid)
        if comp.ready_file is None or ready_timeout is None:
            return {}
        try:
            urls = comp.wait_ready(ready_timeout)
        except Exception as exc:
            raise Abort(f"{comp.name} did not start: {exc}") from None
        self.manifest.component(comp.name, urls=urls)
        return urls

    def _start(self) -> None:
        target = self.scenario.target
        self.sampler.watch("harness", os.getpid(), with_children=False)  # the orchestrator and its sampler
        sampler_url = self.sampler.serve()
        self.sampler.start()
        if target.kind == "url":
            self.platform_url = target.platform_url.rstrip("/")
            self._wait_bot_connected(target.ready_timeout_s)
        else:
            urls = self._launch(
                components.platform(
                    self.run_dir,
                    self.ready_dir / "platform.json",
                    self.scenario,
                    self.app_secret,
                    self.options.listen,
                    admin_token=self.admin_token,
                ),
                60,
            )
            self.platform_url = urls["http"]
            self._start_bots()
        self.sampler.bot_metrics_url = self.bot_metrics_url
        self.ledger = LedgerPoller(self.platform_url, self._lines("ledger.jsonl"), self.clock, self.admin_token)
        self.faults = FaultScheduler(
            self.platform_url,
            self.scenario.faults,
            lambda applied: self.manifest.data["faults_applied"].append(applied),
            self.admin_token,
            None if self.replicas is None else self.replicas.apply,
        )
        host, remote = self.options.listen, self.options.remote_workers
        port = self.options.master_port or procs.free_port()
        master_comp = components.locust_master(
            self.run_dir,
            self.ready_dir / "loadgen.json",
            host,
            port,
            self.workers + remote,
            self.platform_url,
            self.bot_admin_url,
        )
        master = self._launch(master_comp, 60)
        self.live = LiveStatus(master["metrics"])
        self._start_prometheus(
            {
                "bot": self.bot_metrics_url,
                "platform": self.platform_url + "/metrics",
                "loadgen": master["metrics"],
                "host": sampler_url,
            }
        )
        self.provisional_start = time.time()
        for i in range(1, self.workers + 1):
            self._launch(components.locust_worker(self.run_dir, i, host, port))
        if remote:
            self.say(
                f"waiting for {remote} remote worker(s); on each worker machine run:\n  "
                f"{components.remote_worker_command(host, port)}"
            )
        self._wait_load_started(600 if remote else 60)

    def _start_bots(self) -> None:
        """The scenario's replicas one after the other, each connected before the next starts (so the
        first is the oldest connection: the one active-standby routing serves from)."""
        target = self.scenario.target
        env = components.bot_env(self.platform_url, self.app_secret, self.admin_password, self.scenario)
        settings = self._bot_settings() if target.kind == "reference" else {}
        self.replicas = Replicas(
            self.platform_url,
            self.admin_token,
            self._restarted,
            self._process_fault_applied,
            self.clock,
        )
        for replica in range(1, target.replicas + 1):
            name = components.bot_name(replica)
            replica_env = {**env, components.REPLICA_ENV: str(replica), **self.profiler.snapshot_env(name)}
            if target.kind == "reference":
                comp = components.reference_bot(
                    self.run_dir,
                    self.ready_dir / f"{name}.json",
                    self.platform_url,
                    replica_env,
                    self.scenario,
                    self.options.listen,
                    settings=settings,
                    replica=replica,
                    admin_port=procs.free_port(self.options.listen),
                )
                urls = self._launch(comp, target.ready_timeout_s)
                if replica == 1:  # the load generator's abusive client and Prometheus use the first
                    self.bot_admin_url = urls["http"]
                    self.bot_metrics_url = urls["http"] + "/metrics"
            else:
                comp = components.command_bot(self.run_dir, replica_env, self.scenario, replica)
                self._launch(comp)
            self.replicas.add(comp)
            self._wait_bot_connected(target.ready_timeout_s, connections=replica)

    def _restarted(self, comp: Component) -> None:
        self.manifest.component(comp.name, pid=comp.pid)
        self.sampler.watch(comp.name, comp.pid)

    def _process_fault_applied(self, applied: dict[str, Any]) -> None:
        self.manifest.data["process_faults"].append(applied)
        self.manifest.save()
        what = applied.get("skipped") or f"pid {applied.get('pid')}" + (
            f", {applied['in_flight']} message(s) in flight" if "in_flight" in applied else ""
        )
        self.say(f"fault {applied['step']}: {applied['process']} {applied.get('component', '')} ({what})")

    def _bot_settings(self) -> dict[str, Any]:
        """The reference bot's config fields from the scenario, with the run's own Redis for its answer
        cache when the cache is asked for, or the cache turned off (and the run told why) without one."""
        settings = self.scenario.target.bot_settings()
        if settings.get(ANSWER_CACHE) is True:
            url = self._start_redis()
            if url:
                settings[ANSWER_CACHE_URL] = url
            else:
                settings[ANSWER_CACHE] = False
        return settings

    def _start_redis(self) -> str:
        """redis-server on loopback for this run; "" (said, and in the manifest) when there is none."""
        binary = procs.find_binary("redis-server")
        reason = "redis-server not found"
        if binary is not None:
            port = procs.free_port()
            comp = redis.component(binary, self.run_dir / "redis", port, self.run_dir / "logs" / "redis.log")
            self._launch(comp)
            try:
                redis.wait_ready(comp, port)
            except NotReady as exc:
                self.manifest.component(comp.name, exit_code=comp.stop())
                reason = f"redis-server did not start: {exc}"
            else:
                self.manifest.update(answer_cache={"available": True, "url": redis.url(port), "binary": binary})
                self.say(f"redis: answer cache at {redis.url(port)}")
                return redis.url(port)
        self.manifest.update(answer_cache={"available": False, "reason": reason, "hint": redis.INSTALL_HINT})
        self._warn(f"{reason}: the run goes on WITHOUT the answer cache the scenario asked for ({redis.INSTALL_HINT})")
        return ""

    def _wait_bot_connected(self, timeout: float, connections: int = 1) -> None:
        """The bot is ready when the emulator sees its stream connection (works for any bot); with
        replicas, when it sees one per replica started so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                ledger = http_json(self.platform_url + "/admin/ledger", token=self.admin_token)
                if ledger["connections"]["current"] >= connections:
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        which = "the bot" if connections == 1 else f"bot replica {connections}"
        raise Abort(f"{which} did not open a stream connection to the platform within {timeout:.0f} s")

    def _start_prometheus(self, targets: dict[str, str]) -> None:
        mon = self.scenario.monitoring
        binary = (
            None
            if self.options.no_prometheus
            else procs.find_binary("prometheus", configured=self.options.prometheus or mon.prometheus)
        )
        if binary is None:
            reason = "disabled with --no-prometheus" if self.options.no_prometheus else "prometheus not found"
            if mon.require_prometheus:
                raise Abort(f"{reason}; the scenario requires it: {prometheus.INSTALL_HINT}")
            self.manifest.update(prometheus={"available": False, "reason": reason, "hint": prometheus.INSTALL_HINT})
            self.say(f"warning: {reason}: alerts will not be evaluated ({prometheus.INSTALL_HINT})")
            return
        targets = {job: url for job, url in targets.items() if url}
        folder = self.run_dir / "prometheus"
        config = prometheus.write_config(folder, targets, mon.scrape_interval_s, self._start_alertmanager())
        port = procs.free_port()
        comp = prometheus.component(binary, folder, config, port, self.run_dir / "logs" / "prometheus.log")
        self._launch(comp)
        url = f"http://{DEFAULT_HOST}:{port}"
        try:
            comp.wait_url(f"{url}/-/ready", 60)
        except NotReady as exc:
            raise Abort(str(exc)) from None
        self.manifest.component("prometheus", urls={"http": url})
        self.prometheus_url, self.prometheus_started = url, time.time()
        try:
            rules = prometheus.check_rules(url)
        except prometheus.RulesNotLoaded as exc:
            raise HarnessFailure(str(exc)) from None
        self.manifest.update(
            prometheus={
                "available": True,
                "url": url,
                "binary": binary,
                "targets": targets,
                "scrape_interval_s": mon.scrape_interval_s,
                "rules": rules,
            }
        )
        if rules["missing"]:
            raise HarnessFailure(prometheus.missing_rules_text(rules, comp.log_path.relative_to(self.run_dir)))
        self.say(f"prometheus: {rules['rules_loaded']} rules in {rules['groups_loaded']} groups loaded")
        self.alerts = prometheus.AlertPoller(url, self._lines("alerts.jsonl"), self.clock)

    def _restart_prometheus(self, comp: Component) -> None:
        """Prometheus died mid-run: the run goes on. It is started again on the same port and TSDB, and
        the manifest's prometheus.gaps keeps the stretch in which no alert rule was evaluated (the report
        names it); if it does not come back, the gap lasts to the end of the run."""
        code = comp.exit_code()
        wall, sim = self.clock()
        gap: dict[str, Any] = {"from_wall_s": wall, "from_sim": sim, "to_wall_s": None, "to_sim": None}
        gap["reason"] = f"Prometheus exited with code {code}"
        try:
            comp.start()
            self.sampler.watch(comp.name, comp.pid)
            comp.wait_url(f"{self.prometheus_url}/-/ready", PROMETHEUS_RESTART_S)
        except (OSError, NotReady) as exc:
            comp.expected_exit = True  # given up on: the rest of the run has no alert evaluation
            gap["reason"] += f"; not restarted ({exc})"
        else:
            gap["to_wall_s"], gap["to_sim"] = self.clock()
            gap["reason"] += "; restarted"
            self.manifest.component(comp.name, pid=comp.pid)
        gaps = [*self.manifest.data["prometheus"].get("gaps", []), gap]
        self.manifest.update(prometheus={**self.manifest.data["prometheus"], "gaps": gaps})
        until = f"until {gap['to_wall_s']:.0f} s" if gap["to_wall_s"] is not None else "to the end"
        self._warn(f"{gap['reason']} at {wall:.0f} s into the run: alerts were not evaluated from then {until}")

    def _start_alertmanager(self) -> str:
        """Alertmanager with the project's routing when installed; its notifications land in the run folder."""
        from harness.observability.alertmanager import AlertmanagerError, AlertmanagerProcess

        am = AlertmanagerProcess(self.run_dir, binary=self.scenario.monitoring.alertmanager)
        if am.binary is None:
            self.manifest.update(alertmanager={"available": False, "reason": "alertmanager not found"})
            return ""
        try:
            url = am.start()
        except AlertmanagerError as exc:
            self._warn(f"alertmanager did not start: {exc}")
            self.manifest.update(alertmanager={"available": False, "reason": str(exc)})
            return ""
        self.alertmanager = am
        self.manifest.update(alertmanager={"available": True, "url": url})
        return url

    def _wait_load_started(self, timeout: float) -> None:
        path = self.run_dir / "timemap.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if path.exists():
                data = json.loads(path.read_text())
                self.run_start = data["run_start_unix"]
                self.timemap = TimeMap.from_json(data)
                self.manifest.update(run_start_unix=self.run_start, timemap=data)
                return
            time.sleep(0.1)
        raise Abort(f"the load generator did not start within {timeout:.0f} s (see logs/loadgen-*.log)")

    def _check_alive(self, wall: float = 0.0) -> None:
        if self.interrupted:
            raise Abort(self.interrupted)
        disk = self._disk_problem()  # before deaths: a component that met the full disk dies of it
        if disk:
            raise Abort(disk)
        for comp in self.components:
            if comp.name.startswith("loadgen-") and comp.exit_code() == 0 and wall >= self.plan.play_s:
                comp.expected_exit = True  # Locust finishing the shape
            if comp.name == "prometheus" and comp.died():
                self._restart_prometheus(comp)
                continue
            if comp.died():
                raise Abort(
                    f"component {comp.name} exited with code {comp.exit_code()} mid-run "
                    f"(log: {comp.log_path.relative_to(self.run_dir)})"
                )

    def _play(self) -> None:
        master = next(c for c in self.components if c.name == "loadgen-master")
        next_progress = next_ledger = next_alerts = 0.0
        while master.exit_code() is None or master.exit_code() != 0:
            now = time.monotonic()
            wall, sim = self.clock()
            self._check_alive(wall)
            assert self.faults is not None and self.ledger is not None
            self.faults.tick(self.timemap, wall, sim)
            self.profiler.tick(self.timemap, wall)
            if now >= next_ledger:
                self.ledger.poll()
                next_ledger = now + 5
            if self.alerts and now >= next_alerts:
                self.alerts.poll()
                next_alerts = now + 2
            self._watch_generator_cpu()
            if now >= next_progress and self.live is not None:
                self.tail.read_new()
                self.live.poll()
                kind = self.timemap.segment_at(wall).kind if wall < self.timemap.wall_duration else "drain"
                self.say(
                    progress_line(
                        wall,
                        self.plan.duration_s,
                        sim,
                        kind,
                        self.live,
                        self.tail,
                        self.alerts.names_firing() if self.alerts else [],
                    )
                )
                next_progress = now + self.options.progress_every_s
            if wall > self.plan.duration_s + FINISH_GRACE_S:
                raise Abort(f"the load generator did not finish {FINISH_GRACE_S:.0f} s after the planned end")
            time.sleep(0.25)

    def _disk_problem(self) -> str | None:
        """Why the run must stop for lack of disk space (a write met a full disk, or less than the
        reserve is left), or None."""
        if self.manifest.unsaved is not None:
            return f"disk full: manifest.json not written ({self.manifest.unsaved.strerror})"
        for lines in self.jsonl:
            if lines.unwritten:
                why = lines.error.strerror if lines.error else "short write"
                return f"disk full: {lines.unwritten} line(s) of {lines.path.name} not written ({why})"
        free = free_bytes(self.run_dir)
        if free < self.disk.size:
            return (
                f"disk full: {free / MB:.1f} MB left on the filesystem of the run folder "
                f"(a run stops below {self.disk.size / MB:g} MB)"
            )
        return None

    def _watch_generator_cpu(self) -> None:
        for name, values in self.sampler.latest.items():
            if not name.startswith("loadgen-worker"):
                continue
            self._high_cpu[name] = self._high_cpu.get(name, 0) + 1 if values["cpu"] > RIG.generator_cpu else 0
            if self._high_cpu[name] == GENERATOR_CPU_SAMPLES:
                text = (
                    f"{name} CPU above {RIG.generator_cpu:.0%}: results may be generator-bound; "
                    "add workers or machines (docs/scaling.md)"
                )
                self._warn(text)
                self.manifest.update(generator_bound=True)

    # --- the end -----------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        self.disk.release()  # room for what stopping writes, even on a disk that filled up
        if self.abort_reason:  # say why at once, while the released reserve has room: logs may fill it next
            self.manifest.update(status="aborted", abort_reason=self.abort_reason)
        shutdown_at = time.time()  # Prometheus' scrape record is read up to here: stopped targets fail scrapes
        if self.replicas is not None:
            self.manifest.update(replicas=self.replicas.final_state())
            self.replicas.continue_all()
        self.profiler.stop()
        # the master first: stopping, it collects the workers' last windows before they quit
        order = ["loadgen-master", "loadgen-worker", "bot", "redis", "platform"]
        for prefix in order:
            for comp in [c for c in self.components if c.name.startswith(prefix)]:
                if prefix == "platform" and self.ledger is not None:
                    self.ledger.poll()  # the last live snapshot; ledger.json follows on the emulator's exit
                self.manifest.component(comp.name, exit_code=comp.stop())
        self._keep_ledger()
        if self.alerts is not None:
            self.alerts.poll()
        if self.prometheus_url:
            failures = prometheus.scrape_failures(self.prometheus_url, self.prometheus_started, shutdown_at)
            if failures is not None:
                self.manifest.update(prometheus={**self.manifest.data["prometheus"], "scrape_failures": failures})
        for comp in [c for c in self.components if c.name == "prometheus"]:
            self.manifest.component(comp.name, exit_code=comp.stop())
        if self.alertmanager is not None:
            self.alertmanager.stop()  # after Prometheus: notifications in flight still land
        self.sampler.stop()
        self.sampler.shutdown_server()
        for lines in self.jsonl:
            lines.close()
        for f in self.ready_dir.glob("*"):
            f.unlink()
        self.ready_dir.rmdir()
        self.manifest.update(
            status="aborted" if self.abort_reason else "completed",
            abort_reason=self.abort_reason,
            ended_at=time.time(),
            sampler=self.sampler.overhead(),
        )

    def _keep_ledger(self) -> None:
        """ledger.json is the emulator's, written on its way out. A platform we did not start does not
        write it, and an emulator may fail to (a full disk): then the run's last snapshot of the live
        ledger is kept, in memory until it can be written."""
        if self.ledger is None:
            return
        if self.scenario.target.kind == "url":
            self.unwritten_ledger = self.ledger.poll()  # the final summary of a platform we did not start
        elif not (self.run_dir / "ledger.json").exists() and self.ledger.last is not None:
            self.unwritten_ledger = self.ledger.last
            self._warn("ledger.json is the run's last live snapshot: the emulator did not write its own")
        self._write_held_back()

    def _write_held_back(self) -> None:
        """Write what a full disk held back (the manifest, the ledger), if there is room now."""
        if self.manifest.unsaved is not None:
            self.manifest.save()
        if self.unwritten_ledger is not None:
            try:
                write_json_atomic(self.run_dir / "ledger.json", self.unwritten_ledger)
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
            else:
                self.unwritten_ledger = None

    def _report(self) -> int:
        self.tail.read_new()
        for line in summary_lines(self.tail):
            self.say(line)
        if self.abort_reason:
            self.say(f"run aborted: {self.abort_reason}")
        self._write_held_back()
        if self.manifest.unsaved is not None:
            self.say(f"manifest.json: NOT written, the disk is full; status {self.manifest.data['status']}")
        if self.unwritten_ledger is not None:
            self.say(f"ledger.json: NOT written, the disk is full; {json.dumps(self.unwritten_ledger['messages'])}")
        from harness.analysis.report.builder import analyse, write_report
        from harness.analysis.report.model import Verdict
        from harness.analysis.report.summary import inconclusive_text

        try:
            result = analyse(self.run_dir)
        except Exception as exc:
            return self._report_failed(exc)
        try:
            write_report(result)
        except Exception as exc:
            if not is_disk_full(exc):
                return self._report_failed(exc)
            self.say(f"report: NOT written, the disk is full ({exc}); SLA verdict {result.verdict}")
            return int(ExitCode.ABORTED if self.abort_reason else ExitCode.HARNESS_ERROR)
        if self.harness_failed:  # the exit code is the harness', so no verdict word that maps to another one
            self.say(f"report: {self.run_dir / 'report.html'} (partial)")
            self.say(f"harness error, exit code {int(ExitCode.HARNESS_ERROR)}: {self.abort_reason}")
            return int(ExitCode.HARNESS_ERROR)
        if result.verdict is Verdict.INCONCLUSIVE:
            self.say(inconclusive_text(result.data))
        self.say(f"report: {self.run_dir / 'report.html'}")
        self.say(f"SLA verdict: {result.verdict}")
        return int(result.exit_code)  # the verdict's own code: the word printed and the code always agree

    def _report_failed(self, exc: Exception) -> int:
        log.exception("report failed")
        self.say(f"report: FAILED to build ({exc}); the run folder is complete: {self.run_dir}")
        return int(ExitCode.HARNESS_ERROR)
