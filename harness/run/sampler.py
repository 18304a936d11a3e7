"""Host and per-component resource sampler (psutil).

Every `interval_s` it appends a line to samples.jsonl and keeps the latest values for its Prometheus
exporter, which speaks node-exporter names for the host (node_cpu_seconds_total, node_memory_*) and
harness_process_* for the run's components. A component is its process plus all its descendants.
It measures its own cost (thread CPU time per sample), reported in the manifest.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from harness.core.exposition import counter, gauge
from harness.core.runfolder.jsonlines import JsonLinesWriter

log = logging.getLogger("harness.run")
PROC_FIELDS = ("cpu", "rss", "threads", "fds")


class ComponentProcess:
    """CPU accounting for one component's process tree."""

    def __init__(self, pid: int, with_children: bool = True):
        self.root = psutil.Process(pid)
        self.with_children = with_children
        self.cpu_total = 0.0  # cumulative CPU seconds seen (monotonic even when children come and go)
        self._last: dict[int, float] = {}

    def sample(self) -> dict[str, float] | None:
        try:
            if self.root.status() == psutil.STATUS_ZOMBIE:
                return None  # exited, not yet reaped: nothing to measure
            procs = [self.root, *(self.root.children(recursive=True) if self.with_children else [])]
        except psutil.Error:
            return None
        rss = threads = fds = 0
        cpu_now: dict[int, float] = {}
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
        delta = sum(max(0.0, c - self._last.get(pid, 0.0)) for pid, c in cpu_now.items())
        self._last = cpu_now
        self.cpu_total += delta
        return {"cpu_delta": delta, "rss": float(rss), "threads": float(threads), "fds": float(fds)}


LOOP_LAG = "chatbot_event_loop_lag_seconds"
ANSWER_CACHE = "chatbot_answer_cache_lookups_total"


@dataclass
class BotScrape:
    backlog: float | None  # sum of chatbot_queue_depth
    lag_buckets: dict[str, float]  # chatbot_event_loop_lag_seconds, cumulative count by `le`
    lag_sum: float
    answer_cache: dict[str, float] = field(default_factory=dict)  # chatbot_answer_cache_lookups_total by result


def scrape_bot(metrics_url: str, timeout: float = 1.0) -> BotScrape | None:
    """The bot's backlog and event-loop lag histogram from its /metrics (None when unreachable)."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except OSError:
        return None
    scrape = BotScrape(None, {}, 0.0)
    for family in text_string_to_metric_families(text):
        if family.name == "chatbot_queue_depth":
            scrape.backlog = sum(s.value for s in family.samples)
        elif family.name == LOOP_LAG:
            for s in family.samples:
                if s.name == LOOP_LAG + "_bucket":
                    scrape.lag_buckets[s.labels["le"]] = s.value
                elif s.name == LOOP_LAG + "_sum":
                    scrape.lag_sum = s.value
        elif family.name + "_total" == ANSWER_CACHE:
            scrape.answer_cache = {s.labels["result"]: s.value for s in family.samples if s.name == ANSWER_CACHE}
    return scrape


class LagDelta:
    """Per-sample event-loop lag: the histogram's observations since the previous scrape, per bucket."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._last_sum = 0.0

    def update(self, scrape: BotScrape) -> dict[str, Any] | None:
        now = scrape.lag_buckets
        if not now:
            return None  # the bot does not export the probe
        if any(now.get(le, 0.0) < count for le, count in self._last.items()):
            self._last, self._last_sum = {}, 0.0  # the bot restarted: its counters began again
        bounds = sorted(now, key=float)
        cumulative = [now[le] - self._last.get(le, 0.0) for le in bounds]
        per_bucket = {le: int(c - prev) for le, (prev, c) in zip(bounds, pairwise([0.0, *cumulative]), strict=True)}
        delta = {
            "count": int(cumulative[-1]),
            "sum": round(scrape.lag_sum - self._last_sum, 6),
            "buckets": {le: n for le, n in per_bucket.items() if n},
        }
        self._last, self._last_sum = dict(now), scrape.lag_sum
        return delta


class Sampler:
    def __init__(self, out: JsonLinesWriter, interval_s: float, clock: Callable[[], tuple[float | None, float | None]]):
        self.out = out
        self.interval_s = interval_s
        self.clock = clock  # -> (wall seconds since run start, simulated seconds) or Nones before the start
        self.components: dict[str, ComponentProcess] = {}
        self.latest: dict[str, dict[str, float]] = {}
        self.bot_metrics_url = ""
        self.loop_lag = LagDelta()
        self.samples = 0
        self.own_cpu_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self._last_t = time.monotonic()
        psutil.cpu_percent(None)

    def watch(self, name: str, pid: int | None, with_children: bool = True) -> None:
        if pid is not None:
            try:
                self.components[name] = ComponentProcess(pid, with_children)
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
        for name, comp in list(self.components.items()):
            values = comp.sample()
            if values is None:
                continue
            procs[name] = {"cpu": round(values.pop("cpu_delta") / elapsed, 4), **values}
        self.latest = procs
        wall, sim = self.clock()
        line: dict[str, Any] = {
            "t": time.time(),
            "wall": wall,
            "sim": sim,
            "host": {"cpu": round(psutil.cpu_percent(None) / 100, 4), "mem": round(1 - mem.available / mem.total, 4)},
            "procs": procs,
        }
        if self.bot_metrics_url:
            scrape = scrape_bot(self.bot_metrics_url)
            if scrape is not None and scrape.backlog is not None:
                line["backlog"] = scrape.backlog
            if scrape is not None and any(scrape.answer_cache.values()):
                line["answer_cache"] = scrape.answer_cache
            lag = None if scrape is None else self.loop_lag.update(scrape)
            if lag is not None:
                line["loop_lag"] = lag
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
