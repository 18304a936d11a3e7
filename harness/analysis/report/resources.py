"""CPU, memory and backlog from samples.jsonl, streamed; the rig's health from the same samples.

The resource SLAs judge the target (the bot's processes): CPU as a share of one core, memory as its
resident set against the memory limit (the scenario's `[sla] memory_limit_mb`, else the container's
limit, else the host's memory). Each is judged on the highest mean over any minute of wall time (a
sliding window, so that a short spike is not cut in half by where minutes happen to start, while a
single busy sample does not fail a run). The host's CPU and memory are shown apart. A target that
runs elsewhere (`target.kind = "url"`) has no processes here: its resource SLAs are not judged.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness.analysis.report.growth import GrowthTracker
from harness.analysis.report.model import BotSideLatency, Resources, SustainedPeak
from harness.analysis.report.rig import RigMonitor, SlidingMean
from harness.core.runfolder.reader import RunFolder

SUSTAINED_WALL_S = 60.0
WATCHED = ("bot", "loadgen")  # components whose CPU the report and the diagnosis judge
BOT_COMPONENT = "bot"
MB = 1024 * 1024


class SlidingPeak:
    """Highest mean over any `span` wall seconds (sliding), where that span began, and the highest
    sample, in one pass. A run shorter than the span gets the mean of the whole run."""

    def __init__(self, span: float = SUSTAINED_WALL_S) -> None:
        self._window = SlidingMean(span)
        self._total = 0.0
        self._count = 0
        self._first_sim = 0.0
        self.peak: float | None = None
        self.peak_at_sim: float | None = None
        self.max: float | None = None

    def add(self, wall: float, sim: float, value: float) -> float:
        """Adds a sample; returns the mean of the last span (what the SLA judges at this instant)."""
        mean = self._window.add(wall, sim, value)
        if not self._count:
            self._first_sim = sim
        self._total += value
        self._count += 1
        if self.max is None or value > self.max:
            self.max = value
        if self._window.full and (self.peak is None or mean > self.peak):
            self.peak, self.peak_at_sim = mean, self._window.start[1]
        return mean

    def close(self) -> None:
        if self.peak is None and self._count:
            self.peak, self.peak_at_sim = self._total / self._count, self._first_sim

    def summary(self) -> SustainedPeak:
        return SustainedPeak(sustained_peak=self.peak, sustained_peak_at_sim=self.peak_at_sim, max=self.max)


@dataclass
class SeriesBucket:
    sim: float
    values: dict[str, list[float]] = field(default_factory=dict)  # name -> [sum, count, max]

    def add(self, name: str, value: float) -> None:
        acc = self.values.setdefault(name, [0.0, 0, value])
        acc[0] += value
        acc[1] += 1
        acc[2] = max(acc[2], value)

    def point(self) -> dict[str, Any]:
        point: dict[str, Any] = {"sim": self.sim}
        for name, (total, count, peak) in self.values.items():
            point[name] = total / count
            point[f"{name}_max"] = peak
        return point


def interpolated_quantile(buckets: Counter[float], q: float) -> float | None:
    """The q-quantile of bucketed observations (upper bound -> count), interpolated linearly within its
    bucket as Prometheus' histogram_quantile does; in the +Inf bucket, the highest finite bound."""
    total = buckets.total()
    if not total:
        return None
    rank, seen, lower = q * total, 0, 0.0
    for upper in sorted(buckets):
        count = buckets[upper]
        if count and seen + count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        if not math.isinf(upper):
            lower = upper
    return lower


def memory_limit(folder: RunFolder, limit_mb: float) -> tuple[float | None, str | None]:
    """(bytes, source) of the memory the target may use: the scenario's setting, else the container's
    limit, else the host's memory (manifest `machine`)."""
    machine = folder.manifest.get("machine") or {}
    if limit_mb > 0:
        return limit_mb * MB, "scenario"
    if machine.get("memory_limit_bytes"):
        return float(machine["memory_limit_bytes"]), "container"
    if machine.get("memory_bytes"):
        return float(machine["memory_bytes"]), "host"
    return None, None


@dataclass
class ResourceResult:
    samples: int = 0
    cpu_source: str = "bot process (fraction of one core)"
    cpu: SlidingPeak = field(default_factory=SlidingPeak)
    host_cpu: SlidingPeak = field(default_factory=SlidingPeak)
    memory: SlidingPeak = field(default_factory=SlidingPeak)  # the host's
    target_memory: SlidingPeak = field(default_factory=SlidingPeak)  # the bot's RSS / memory limit
    others_cpu: SlidingPeak = field(default_factory=SlidingPeak)
    memory_limit_bytes: float | None = None
    memory_limit_source: str | None = None
    backlog_max: float | None = None
    backlog_max_at_sim: float | None = None
    bot_rss_max: float | None = None
    bot_seen: bool = False
    components_cpu: dict[str, SlidingPeak] = field(default_factory=dict)  # every sampled process
    series: list[dict[str, Any]] = field(default_factory=list)
    rig: RigMonitor | None = None
    processing: Counter[float] = field(default_factory=Counter)  # the bot's processing time: bucket bound -> count
    processing_seen: bool = False
    growth: GrowthTracker = field(default_factory=GrowthTracker)

    def bot_processing(self) -> BotSideLatency | None:
        """The bot's own processing-time percentiles over the run, when it exports the histogram."""
        if not self.processing_seen:
            return None
        return BotSideLatency(
            count=int(self.processing.total()),
            p50=interpolated_quantile(self.processing, 0.50),
            p99=interpolated_quantile(self.processing, 0.99),
            source="samples.jsonl processing (the bot's chatbot_message_processing_seconds)",
        )

    def summary(self) -> Resources:
        return Resources(
            samples=self.samples,
            cpu_source=self.cpu_source,
            sustained_window_wall_s=SUSTAINED_WALL_S,
            cpu=self.cpu.summary(),
            host_cpu=self.host_cpu.summary(),
            memory=self.memory.summary(),
            backlog_max=self.backlog_max,
            backlog_max_at_sim=self.backlog_max_at_sim,
            bot_rss_max_bytes=self.bot_rss_max,
            components_cpu={name: p.summary() for name, p in sorted(self.components_cpu.items())},
            target_memory=self.target_memory.summary() if self.bot_seen else None,
            memory_limit_bytes=self.memory_limit_bytes,
            memory_limit_source=self.memory_limit_source,
            others_cpu=self.others_cpu.summary() if self.others_cpu.max is not None else None,
        )


def aggregate_resources(folder: RunFolder, memory_limit_mb: float = 0.0) -> ResourceResult:
    result = ResourceResult()
    result.memory_limit_bytes, result.memory_limit_source = memory_limit(folder, memory_limit_mb)
    cores = (folder.manifest.get("machine") or {}).get("cpus")
    result.rig = RigMonitor(int(cores) if cores else None)
    result.growth.until_wall = folder.timemap.wall_duration if folder.timemap else None
    bucket_s = folder.bucket_s()
    bucket: SeriesBucket | None = None
    for s in folder.iter_jsonl("samples.jsonl"):
        try:
            wall, sim = float(s["wall"]), float(s["sim"])
        except (KeyError, TypeError, ValueError) as exc:
            folder.problems.append(f"samples.jsonl: a sample lacks wall / sim ({exc!r}); skipped")
            continue
        result.samples += 1
        result.rig.add(s, wall, sim)
        key = sim // bucket_s * bucket_s
        if bucket is None or key != bucket.sim:
            if bucket is not None:
                result.series.append(bucket.point())
            bucket = SeriesBucket(key)
        host = s.get("host") or {}
        if host.get("cpu") is not None:
            result.host_cpu.add(wall, sim, float(host["cpu"]))
            bucket.add("host_cpu", float(host["cpu"]))
        if host.get("mem") is not None:
            result.memory.add(wall, sim, float(host["mem"]))
            bucket.add("host_mem", float(host["mem"]))
        others = s.get("others")
        if isinstance(others, dict) and others.get("cpu") is not None:
            result.others_cpu.add(wall, sim, float(others["cpu"]))
        procs = s.get("procs") or {}
        result.growth.add(wall, sim, procs)
        for name, proc in procs.items():
            if name.startswith(WATCHED) and isinstance(proc, dict) and proc.get("cpu") is not None:
                mean = result.components_cpu.setdefault(name, SlidingPeak()).add(wall, sim, float(proc["cpu"]))
                if name == BOT_COMPONENT:
                    bucket.add("bot_cpu_sustained", mean)  # the chart draws what the SLA judges
        bot = procs.get(BOT_COMPONENT) or {}
        if bot.get("cpu") is not None:
            bucket.add("bot_cpu", float(bot["cpu"]))
        if bot.get("rss") is not None:
            rss = float(bot["rss"])
            result.bot_seen = True
            result.bot_rss_max = rss if result.bot_rss_max is None else max(result.bot_rss_max, rss)
            bucket.add("bot_rss", rss)
            if result.memory_limit_bytes:
                share = result.target_memory.add(wall, sim, rss / result.memory_limit_bytes)
                bucket.add("bot_mem_sustained", share)
        processing = s.get("processing")
        if isinstance(processing, dict):
            result.processing_seen = True
            result.processing.update({float(le): int(n) for le, n in (processing.get("buckets") or {}).items()})
        if s.get("backlog") is not None:
            backlog = float(s["backlog"])
            bucket.add("backlog", backlog)
            if result.backlog_max is None or backlog > result.backlog_max:
                result.backlog_max, result.backlog_max_at_sim = backlog, sim
    if bucket is not None:
        result.series.append(bucket.point())
    peaks = (result.host_cpu, result.memory, result.target_memory, result.others_cpu, *result.components_cpu.values())
    for peak in peaks:
        peak.close()
    result.cpu = result.components_cpu.get(BOT_COMPONENT) or SlidingPeak()
    return result
