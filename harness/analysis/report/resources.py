"""CPU, memory and backlog from samples.jsonl, streamed.

The resource SLAs are judged on the highest one-minute (wall clock) mean, so that a single busy
sample does not fail a run while a sustained overload does; minutes are counted from the run's start.
CPU is the bot's own process (fraction of one core) when the sampler saw it, the host otherwise;
memory is the host's used fraction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.analysis.report.model import Resources, SustainedPeak
from harness.core.runfolder.reader import RunFolder

SUSTAINED_WALL_S = 60.0
WATCHED = ("bot", "loadgen")  # components whose CPU the report and the diagnosis judge
BOT_COMPONENT = "bot"


class MinutePeak:
    """Highest mean over a wall-clock minute (minutes counted from the run's start), in one pass."""

    def __init__(self) -> None:
        self._minute = -1
        self._sum = 0.0
        self._count = 0
        self._sim = 0.0
        self.peak: float | None = None
        self.peak_at_sim: float | None = None
        self.max: float | None = None

    def add(self, wall: float, sim: float, value: float) -> None:
        minute = int(wall // SUSTAINED_WALL_S)
        if minute != self._minute:
            self.close()
            self._minute, self._sim = minute, sim
        self._sum += value
        self._count += 1
        if self.max is None or value > self.max:
            self.max = value

    def close(self) -> None:
        if self._count:
            mean = self._sum / self._count
            if self.peak is None or mean > self.peak:
                self.peak, self.peak_at_sim = mean, self._sim
        self._sum, self._count = 0.0, 0

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


@dataclass
class ResourceResult:
    samples: int = 0
    cpu_source: str = "host"
    cpu: MinutePeak = field(default_factory=MinutePeak)
    host_cpu: MinutePeak = field(default_factory=MinutePeak)
    memory: MinutePeak = field(default_factory=MinutePeak)
    backlog_max: float | None = None
    backlog_max_at_sim: float | None = None
    bot_rss_max: float | None = None
    components_cpu: dict[str, MinutePeak] = field(default_factory=dict)  # every sampled process
    series: list[dict[str, Any]] = field(default_factory=list)

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
        )


def aggregate_resources(folder: RunFolder) -> ResourceResult:
    result = ResourceResult()
    bucket_s = folder.bucket_s()
    bucket: SeriesBucket | None = None
    for s in folder.iter_jsonl("samples.jsonl"):
        try:
            wall, sim = float(s["wall"]), float(s["sim"])
        except (KeyError, TypeError, ValueError) as exc:
            folder.problems.append(f"samples.jsonl: a sample lacks wall / sim ({exc!r}); skipped")
            continue
        result.samples += 1
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
        procs = s.get("procs") or {}
        for name, proc in procs.items():
            if name.startswith(WATCHED) and isinstance(proc, dict) and proc.get("cpu") is not None:
                result.components_cpu.setdefault(name, MinutePeak()).add(wall, sim, float(proc["cpu"]))
        bot = procs.get(BOT_COMPONENT) or {}
        if bot.get("cpu") is not None:
            bucket.add("bot_cpu", float(bot["cpu"]))
        if bot.get("rss") is not None:
            rss = float(bot["rss"])
            result.bot_rss_max = rss if result.bot_rss_max is None else max(result.bot_rss_max, rss)
            bucket.add("bot_rss", rss)
        if s.get("backlog") is not None:
            backlog = float(s["backlog"])
            bucket.add("backlog", backlog)
            if result.backlog_max is None or backlog > result.backlog_max:
                result.backlog_max, result.backlog_max_at_sim = backlog, sim
    if bucket is not None:
        result.series.append(bucket.point())
    for peak in (result.host_cpu, result.memory, *result.components_cpu.values()):
        peak.close()
    bot_cpu = result.components_cpu.get(BOT_COMPONENT)
    if bot_cpu is not None and bot_cpu.peak is not None:
        result.cpu, result.cpu_source = bot_cpu, "bot process (fraction of one core)"
    else:
        result.cpu, result.cpu_source = result.host_cpu, "host (fraction of all cores)"
    return result
