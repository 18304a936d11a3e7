"""Host and per-component resource sampler (psutil).

Every `interval_s` it appends a line to samples.jsonl and keeps the latest values for its Prometheus
exporter, which speaks node-exporter names for the host (node_cpu_seconds_total, node_memory_*) and
harness_process_* for the run's components. A component is its process plus all its descendants.
Besides CPU and memory it counts each component's storage I/O (/proc/<pid>/io; blocked-on-I/O time
only where the kernel keeps delay accounting) and the host's iowait and busiest disk (docs/run-folder.md).
Each sample also sums the CPU of every process outside the run and names the busiest of them, so that
a report can tell a slow bot from a busy machine (rig health), and keeps the bot's event-loop lag and
processing-time histograms as per-sample deltas. It measures its own cost (thread CPU time per
sample), reported in the manifest.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from harness.core.exposition import counter, gauge
from harness.core.runfolder.jsonlines import JsonLinesWriter
from harness.core.secrets import mask_argv

log = logging.getLogger("harness.run")
PROC_FIELDS = ("cpu", "rss", "threads", "fds")
DELAYACCT_SWITCH = Path("/proc/sys/kernel/task_delayacct")
BLKIO_TICKS_FIELD = 41  # delayacct_blkio_ticks: field 42 of /proc/<pid>/stat, 0-based after the pid
IO_KEYS = ("read_bytes", "write_bytes", "write_chars", "blocked_s")  # cumulative per process


def blocked_on_io_offered() -> tuple[bool, str]:
    """Whether the kernel counts the time tasks wait for block I/O (delay accounting), and why not."""
    try:
        on = DELAYACCT_SWITCH.read_text().strip() == "1"
    except OSError:
        return False, f"not offered: {DELAYACCT_SWITCH} is absent (no delay accounting in this kernel)"
    if on:
        return True, f"delay accounting ({DELAYACCT_SWITCH} = 1)"
    return False, f"not offered: delay accounting is off ({DELAYACCT_SWITCH} = 0; kernel.task_delayacct=1 turns it on)"


def blkio_seconds(pid: int) -> float:
    """Seconds the threads of a process have waited for block I/O (delay accounting), summed over its
    live threads (the process-level field counts the main thread only)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the thread ended meanwhile
        total += int(fields[BLKIO_TICKS_FIELD - 1])
    return total / CLOCK_TICKS


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# samples.jsonl fields per component, from the cumulative IO_KEYS: bytes per second, and blocked_s as
# seconds blocked per wall second (present only where the kernel counts it)
IO_FIELDS = {
    "read_bytes": "io_read_bps",
    "write_bytes": "io_write_bps",
    "write_chars": "io_wchar_bps",
    "blocked_s": "io_blocked",
}


class ComponentProcess:
    """CPU and I/O accounting for one component's process tree."""

    def __init__(self, pid: int, with_children: bool = True, blocked_io: bool = False):
        self.root = psutil.Process(pid)
        self.with_children = with_children
        self.blocked_io = blocked_io  # read delayacct_blkio_ticks (only where the kernel counts it)
        self.cpu_total = 0.0  # cumulative CPU seconds seen (monotonic even when children come and go)
        self._last: dict[int, float] = {}
        self.io_total = dict.fromkeys(IO_KEYS, 0.0)  # cumulative, monotonic like cpu_total
        self._last_io: dict[int, tuple[float, ...]] = {}
        self.pids: set[int] = {pid}  # the tree's processes at the last sample

    def sample(self) -> dict[str, float] | None:
        try:
            if self.root.status() == psutil.STATUS_ZOMBIE:
                return None  # exited, not yet reaped: nothing to measure
            procs = [self.root, *(self.root.children(recursive=True) if self.with_children else [])]
        except psutil.Error:
            return None
        rss = threads = fds = 0
        cpu_now: dict[int, float] = {}
        io_now: dict[int, tuple[float, ...]] = {}
        for p in procs:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    cpu_now[p.pid] = t.user + t.system
                    rss += p.memory_info().rss
                    threads += p.num_threads()
                    fds += p.num_fds()
            except psutil.Error:
                continue
            try:  # apart: a process whose I/O may not be read (another user's) still counts its CPU
                io = p.io_counters()
            except psutil.Error:
                continue
            blocked = blkio_seconds(p.pid) if self.blocked_io else 0.0
            io_now[p.pid] = (io.read_bytes, io.write_bytes, io.write_chars, blocked)
        delta = sum(max(0.0, c - self._last.get(pid, 0.0)) for pid, c in cpu_now.items())
        self._last = cpu_now
        io_delta = dict.fromkeys(IO_KEYS, 0.0)
        for pid, now in io_now.items():
            # a process seen for the first time counts from zero: its I/O since it started is this tree's
            before = self._last_io.get(pid, (0.0,) * len(IO_KEYS))
            for key, new, old in zip(IO_KEYS, now, before, strict=True):
                io_delta[key] += max(0.0, new - old)
        # a live process whose counters could not be read this time keeps its last reading
        alive = {p.pid for p in procs}
        self._last_io = {**{pid: v for pid, v in self._last_io.items() if pid in alive}, **io_now}
        for key, value in io_delta.items():
            self.io_total[key] += value
        self.pids = alive
        self.cpu_total += delta
        return {
            "cpu_delta": delta,
            "rss": float(rss),
            "threads": float(threads),
            "fds": float(fds),
            **{f"io_{key}_delta": value for key, value in io_delta.items()},
        }


LOOP_LAG = "chatbot_event_loop_lag_seconds"
PROCESSING = "chatbot_message_processing_seconds"
SCRAPED_HISTOGRAMS = (LOOP_LAG, PROCESSING)
ANSWER_CACHE = "chatbot_answer_cache_lookups_total"


@dataclass
class HistogramCounts:
    buckets: dict[str, float]  # cumulative count by `le`
    sum: float


@dataclass
class BotScrape:
    backlog: float | None  # sum of chatbot_queue_depth
    histograms: dict[str, HistogramCounts]  # SCRAPED_HISTOGRAMS the bot exports
    answer_cache: dict[str, float] = field(default_factory=dict)  # chatbot_answer_cache_lookups_total by result


def scrape_bot(metrics_url: str, timeout: float = 1.0) -> BotScrape | None:
    """The bot's backlog and histograms (event-loop lag, processing time) from its /metrics; None when
    unreachable."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except OSError:
        return None
    scrape = BotScrape(None, {})
    for family in text_string_to_metric_families(text):
        if family.name == "chatbot_queue_depth":
            scrape.backlog = sum(s.value for s in family.samples)
        elif family.name in SCRAPED_HISTOGRAMS:
            hist = scrape.histograms.setdefault(family.name, HistogramCounts({}, 0.0))
            for s in family.samples:
                if s.name == family.name + "_bucket":
                    hist.buckets[s.labels["le"]] = s.value
                elif s.name == family.name + "_sum":
                    hist.sum = s.value
        elif family.name + "_total" == ANSWER_CACHE:
            scrape.answer_cache = {s.labels["result"]: s.value for s in family.samples if s.name == ANSWER_CACHE}
    return scrape


class HistogramDelta:
    """Per-sample observations of one of the bot's histograms since the previous scrape, per bucket."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self._last: dict[str, float] = {}
        self._last_sum = 0.0

    def update(self, scrape: BotScrape) -> dict[str, Any] | None:
        hist = scrape.histograms.get(self.metric)
        now = hist.buckets if hist is not None else {}
        if not now or hist is None:
            return None  # the bot does not export it
        if any(now.get(le, 0.0) < count for le, count in self._last.items()):
            self._last, self._last_sum = {}, 0.0  # the bot restarted: its counters began again
        bounds = sorted(now, key=float)
        cumulative = [now[le] - self._last.get(le, 0.0) for le in bounds]
        per_bucket = {le: int(c - prev) for le, (prev, c) in zip(bounds, pairwise([0.0, *cumulative]), strict=True)}
        delta = {
            "count": int(cumulative[-1]),
            "sum": round(hist.sum - self._last_sum, 6),
            "buckets": {le: n for le, n in per_bucket.items() if n},
        }
        self._last, self._last_sum = dict(now), hist.sum
        return delta


OTHERS_TOP = 3  # processes outside the run named in each sample
OTHERS_MIN_CPU = 0.02  # share of a core below which an outside process is not named
OTHERS_CMD_CHARS = 80


class OutsideProcesses:
    """CPU of every process on the host that is not part of the run (a neighbour hogging cores, an
    IDE, another test run): the total and the busiest few by name and pid, per sample."""

    def __init__(self) -> None:
        self._last: dict[int, float] = {}

    def sample(self, elapsed: float, run_pids: set[int]) -> dict[str, Any]:
        now: dict[int, float] = {}
        busy: list[tuple[float, psutil.Process]] = []
        total = 0.0
        for proc in psutil.process_iter():
            if proc.pid in run_pids:
                continue
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            now[proc.pid] = cpu = times.user + times.system
            previous = self._last.get(proc.pid)
            if previous is None:
                continue  # first seen: no interval to measure yet
            share = max(0.0, cpu - previous) / elapsed
            total += share
            if share >= OTHERS_MIN_CPU:
                busy.append((share, proc))
        self._last = now
        top = []
        for share, proc in sorted(busy, key=lambda item: -item[0])[:OTHERS_TOP]:
            try:
                name, argv = proc.name(), proc.cmdline()
            except psutil.Error:
                name, argv = "?", []
            # what it runs, so that a report can name it; secret-looking arguments masked, kept short
            cmd = " ".join(mask_argv(argv))[:OTHERS_CMD_CHARS]
            top.append({"name": name, "pid": proc.pid, "cpu": round(share, 4), "cmd": cmd})
        return {"cpu": round(total, 4), "top": top}


class HostIo:
    """The host's iowait (share of all CPU time spent idle with I/O outstanding) and the busiest disk's
    busy share (wall time with I/O in flight), as deltas between samples."""

    def __init__(self) -> None:
        self._cpu = psutil.cpu_times()
        self._busy_ms = self._disks()

    @staticmethod
    def _disks() -> dict[str, float]:
        try:
            return {name: float(d.busy_time) for name, d in (psutil.disk_io_counters(perdisk=True) or {}).items()}
        except (OSError, RuntimeError, AttributeError):  # no /proc/diskstats, or no busy_time on this OS
            return {}

    def sample(self, elapsed: float) -> dict[str, Any]:
        cpu, disks = psutil.cpu_times(), self._disks()
        spent = sum(cpu) - sum(self._cpu)
        out: dict[str, Any] = {}
        if hasattr(cpu, "iowait") and spent > 0:
            out["iowait"] = round(max(0.0, cpu.iowait - self._cpu.iowait) / spent, 4)
        busy = {
            name: (ms - self._busy_ms[name]) / 1000 / elapsed for name, ms in disks.items() if name in self._busy_ms
        }
        if busy:
            disk = max(busy, key=lambda name: (busy[name], disks[name]))  # idle: the disk busiest ever
            out["disk_busy"], out["disk"] = round(min(1.0, max(0.0, busy[disk])), 4), disk
        self._cpu, self._busy_ms = cpu, disks
        return out


class Sampler:
    def __init__(self, out: JsonLinesWriter, interval_s: float, clock: Callable[[], tuple[float | None, float | None]]):
        self.out = out
        self.interval_s = interval_s
        self.clock = clock  # -> (wall seconds since run start, simulated seconds) or Nones before the start
        self.components: dict[str, ComponentProcess] = {}
        self.latest: dict[str, dict[str, float]] = {}
        self.bot_metrics_url = ""
        self.bot_histograms = {name: HistogramDelta(name) for name in SCRAPED_HISTOGRAMS}
        self.outside = OutsideProcesses()
        self.host_io = HostIo()
        self.blocked_io, self.blocked_io_source = blocked_on_io_offered()
        self.samples = 0
        self.own_cpu_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self._last_t = time.monotonic()
        psutil.cpu_percent(None)

    def watch(self, name: str, pid: int | None, with_children: bool = True) -> None:
        if pid is not None:
            try:
                self.components[name] = ComponentProcess(pid, with_children, self.blocked_io)
            except psutil.Error:
                log.warning("cannot sample %s (pid %s)", name, pid)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # a run that failed early never started it
            self._thread.join(self.interval_s * 3 + 2)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            started = time.thread_time()
            try:
                self.sample_once()
            except Exception:  # the sampler must never take the run down
                log.exception("sampler failed once")
            self.own_cpu_s += time.thread_time() - started

    def sample_once(self) -> dict[str, Any]:
        now = time.monotonic()
        elapsed = max(1e-6, now - self._last_t)
        self._last_t = now
        mem = psutil.virtual_memory()
        procs: dict[str, dict[str, float]] = {}
        run_pids: set[int] = set()
        for name, comp in list(self.components.items()):
            values = comp.sample()
            if values is None:
                continue
            io = {key: values.pop(f"io_{key}_delta") / elapsed for key in IO_KEYS}
            procs[name] = {"cpu": round(values.pop("cpu_delta") / elapsed, 4), **values}
            procs[name].update({IO_FIELDS[key]: round(io[key]) for key in ("read_bytes", "write_bytes", "write_chars")})
            if self.blocked_io:
                procs[name][IO_FIELDS["blocked_s"]] = round(io["blocked_s"], 4)
            run_pids |= comp.pids
        self.latest = procs
        wall, sim = self.clock()
        line: dict[str, Any] = {
            "t": time.time(),
            "wall": wall,
            "sim": sim,
            "host": {
                "cpu": round(psutil.cpu_percent(None) / 100, 4),
                "mem": round(1 - mem.available / mem.total, 4),
                **self.host_io.sample(elapsed),
            },
            "procs": procs,
            "others": self.outside.sample(elapsed, run_pids),
        }
        if self.bot_metrics_url:
            scrape = scrape_bot(self.bot_metrics_url)
            if scrape is not None and scrape.backlog is not None:
                line["backlog"] = scrape.backlog
            if scrape is not None and any(scrape.answer_cache.values()):
                line["answer_cache"] = scrape.answer_cache
            for key, name in (("loop_lag", LOOP_LAG), ("processing", PROCESSING)):
                delta = None if scrape is None else self.bot_histograms[name].update(scrape)
                if delta is not None:
                    line[key] = delta
        self.out.write(line)
        self.samples += 1
        return line

    def overhead(self) -> dict[str, float]:
        per_sample = self.own_cpu_s / self.samples if self.samples else 0.0
        return {
            "interval_s": self.interval_s,
            "samples": self.samples,
            "cpu_s_per_sample": round(per_sample, 6),
            "core_fraction": round(per_sample / self.interval_s, 6),
            "io_blocked": self.blocked_io_source,
        }

    def serve(self) -> str:
        """Start the exporter on an ephemeral loopback port; returns its /metrics URL."""
        registry = CollectorRegistry()
        registry.register(_SamplerCollector(self))
        server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
        self._server = server
        return f"http://127.0.0.1:{server.server_port}/metrics"

    def shutdown_server(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()


class _SamplerCollector:
    def __init__(self, sampler: Sampler):
        self.sampler = sampler

    def collect(self):
        cpu = counter("node_cpu_seconds_total")
        for i, times in enumerate(psutil.cpu_times(percpu=True)):
            for mode, value in times._asdict().items():
                cpu.add_metric([str(i), mode], value)
        yield cpu
        mem = psutil.virtual_memory()
        yield gauge("node_memory_MemTotal_bytes", mem.total)
        yield gauge("node_memory_MemAvailable_bytes", mem.available)
        disk_families = {
            "busy_time": (counter("node_disk_io_time_seconds_total"), 1000.0),  # psutil gives milliseconds
            "read_bytes": (counter("node_disk_read_bytes_total"), 1.0),
            "write_bytes": (counter("node_disk_written_bytes_total"), 1.0),
        }
        for device, disk in (psutil.disk_io_counters(perdisk=True) or {}).items():
            for attr, (family, per_unit) in disk_families.items():
                if hasattr(disk, attr):
                    family.add_metric([device], getattr(disk, attr) / per_unit)
        for family, _ in disk_families.values():
            yield family
        io_counters = {
            "read_bytes": counter("harness_process_io_read_bytes_total"),
            "write_bytes": counter("harness_process_io_write_bytes_total"),
            "write_chars": counter("harness_process_io_written_chars_total"),
        }
        if self.sampler.blocked_io:  # absent, not 0, where the kernel does not count it
            io_counters["blocked_s"] = counter("harness_process_io_blocked_seconds_total")
        for name, comp in list(self.sampler.components.items()):
            for key, family in io_counters.items():
                family.add_metric([name], comp.io_total[key])
        yield from io_counters.values()
        cpu_total = counter("harness_process_cpu_seconds_total")
        gauges = {
            "rss": gauge("harness_process_resident_memory_bytes"),
            "threads": gauge("harness_process_threads"),
            "fds": gauge("harness_process_open_fds"),
        }
        for name, comp in list(self.sampler.components.items()):
            cpu_total.add_metric([name], comp.cpu_total)
            latest = self.sampler.latest.get(name) or {}
            for key, family in gauges.items():
                if key in latest:
                    family.add_metric([name], latest[key])
        yield cpu_total
        yield from gauges.values()
