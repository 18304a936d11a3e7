"""Rig health: did the machine running the harness give the run what it needs (limits: contract.RIG)?

The run measures its own rig from its own records: the host's CPU and who used it (samples.jsonl
`host`, `procs`, `others`), the load generator's workers (their CPU, and sends that started late in
windows.jsonl), gaps in the sampler's record, and Prometheus' failed scrapes (manifest.json). CPU
limits are judged on a mean over a sliding `RIG.span_s`. Where a limit was crossed, the windows it
touched are "unhealthy": latency, availability and loss measured there may say more about the rig than
about the bot, so an SLA that fails only there is judged INCONCLUSIVE (harness.analysis.report.verdicts).
"""

from __future__ import annotations

import bisect
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from harness.analysis.report.model import RigCheck, RigCheckId, RigConsumer, RigHealth, RigSpan
from harness.core.contract import RIG, RigLimits

GENERATOR_PREFIX = "loadgen-worker"
SPANS_SHOWN = 5  # spans listed per check (report.json stays small on long runs)
CONSUMERS_SHOWN = 6
OUTSIDE_REST = "other processes outside the run"
GAP_INTERVALS = 3  # a gap is also at least this many sampling periods (a slow sampler is not starved)


class SlidingMean:
    """Mean of the values of the last `span` wall seconds, updated one sample at a time (bounded memory)."""

    def __init__(self, span: float) -> None:
        self.span = span
        self.items: deque[tuple[float, float, float, Any]] = deque()  # wall, sim, value, payload
        self.total = 0.0

    def add(self, wall: float, sim: float, value: float, payload: Any = None) -> float:
        self.items.append((wall, sim, value, payload))
        self.total += value
        while self.items and self.items[0][0] <= wall - self.span:
            self.total -= self.items.popleft()[2]
        return self.total / len(self.items)

    @property
    def full(self) -> bool:
        """The samples held cover a whole span (a sampler gap empties the window until it refills): n
        samples stand for n sampling periods, the period being their mean spacing. (Not the shortest
        spacing ever seen: one pair of samples taken close together would keep the window from ever
        counting as full.)"""
        n = len(self.items)
        if n < 2:
            return False
        covered = self.items[-1][0] - self.items[0][0]
        return covered * n / (n - 1) >= self.span - 1e-9

    @property
    def start(self) -> tuple[float, float]:
        """(wall, sim) of the oldest sample held."""
        return self.items[0][0], self.items[0][1]


@dataclass
class Trouble:
    """Where one rig limit was crossed: merged wall intervals (time order), the worst value, and the
    CPU each process used over the samples inside them."""

    intervals: list[list[float]] = field(default_factory=list)  # [wall_start, wall_end, sim_start, sim_end]
    worst: float | None = None
    consumers: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # CPU-samples summed
    consumer_samples: int = 0
    outside: set[str] = field(default_factory=set)  # consumers that are not run components

    def see(self, value: float) -> None:
        self.worst = value if self.worst is None else max(self.worst, value)

    def mark(self, wall_start: float, sim_start: float, wall_end: float, sim_end: float) -> None:
        """Marks come in time order (each ends at the sample being read), so merged intervals stay
        sorted and apart: `touches` can bisect them."""
        last = self.intervals[-1] if self.intervals else None
        if last is not None and wall_start <= last[1]:
            last[0], last[2] = min(last[0], wall_start), min(last[2], sim_start)
            last[1], last[3] = max(last[1], wall_end), max(last[3], sim_end)
        else:
            self.intervals.append([wall_start, wall_end, sim_start, sim_end])

    def blame(self, consumers: dict[str, tuple[float, bool]]) -> None:
        self.consumer_samples += 1
        for name, (cpu, in_run) in consumers.items():
            self.consumers[name] += cpu
            if not in_run:
                self.outside.add(name)

    @property
    def seconds(self) -> float:
        return sum(i[1] - i[0] for i in self.intervals)

    def touches(self, wall_start: float, wall_end: float) -> bool:
        """Does any interval intersect [wall_start, wall_end]? (the last one starting before its end)"""
        index = bisect.bisect_right(self.intervals, [wall_end, float("inf")])
        return index > 0 and self.intervals[index - 1][1] >= wall_start

    def top_consumers(self) -> list[RigConsumer]:
        if not self.consumer_samples:
            return []
        ranked = [(cpu / self.consumer_samples, name) for name, cpu in self.consumers.items()]
        return [
            RigConsumer(process=name, in_run=name not in self.outside, cpu=round(cpu, 3))
            for cpu, name in sorted(ranked, reverse=True)[:CONSUMERS_SHOWN]
            if cpu >= 0.005
        ]


def sample_consumers(sample: dict[str, Any], cores: int | None) -> dict[str, tuple[float, bool]]:
    """Who used the CPU in one sample: run components by name, outside processes by name and pid, the
    rest of the outside processes as one; (share of one core, is a run component)."""
    out: dict[str, tuple[float, bool]] = {}
    for name, proc in (sample.get("procs") or {}).items():
        if isinstance(proc, dict) and proc.get("cpu") is not None:
            out[name] = (float(proc["cpu"]), True)
    others = sample.get("others")
    if isinstance(others, dict):
        named = 0.0
        for p in others.get("top") or []:
            cpu = float(p.get("cpu", 0.0))
            out[f"{p.get('cmd') or p.get('name', '?')} (pid {p.get('pid', '?')})"] = (cpu, False)
            named += cpu
        rest = float(others.get("cpu", 0.0)) - named
    else:  # an older sampler: the outside processes are what the host used beyond the run's components
        host = (sample.get("host") or {}).get("cpu")
        rest = float(host) * cores - sum(cpu for cpu, _ in out.values()) if host is not None and cores else 0.0
    if rest > 0.01:
        out[OUTSIDE_REST] = (rest, False)
    return out


class RigMonitor:
    """Fed every sample of samples.jsonl in order: host CPU, each generator worker's CPU, sampler gaps."""

    def __init__(self, cores: int | None, limits: RigLimits = RIG) -> None:
        self.limits = limits
        self.cores = cores
        self.samples = 0
        self.samples_with_outside = 0
        self.trouble: dict[str, Trouble] = {k: Trouble() for k in ("host_cpu", "generator_cpu", "sampler_gaps")}
        self._host = SlidingMean(limits.span_s)
        self._host_blamed_to = float("-inf")
        self._workers: dict[str, SlidingMean] = {}
        self._last: tuple[float, float] | None = None
        self._step: float | None = None  # the sampling period: the shortest interval seen

    def add(self, sample: dict[str, Any], wall: float, sim: float) -> None:
        self.samples += 1
        self.samples_with_outside += isinstance(sample.get("others"), dict)
        if self._last is not None:
            gap = wall - self._last[0]
            if gap > 0 and (self._step is None or gap < self._step):
                self._step = gap
            if gap > max(self.limits.sampler_gap_s, GAP_INTERVALS * (self._step or 0.0)):
                gaps = self.trouble["sampler_gaps"]
                gaps.see(gap)
                gaps.mark(self._last[0], self._last[1], wall, sim)
        self._last = (wall, sim)
        host = (sample.get("host") or {}).get("cpu")
        if host is not None:
            self._host_cpu(wall, sim, float(host), sample_consumers(sample, self.cores))
        for name, proc in (sample.get("procs") or {}).items():
            if name.startswith(GENERATOR_PREFIX) and isinstance(proc, dict) and proc.get("cpu") is not None:
                self._generator_cpu(name, wall, sim, float(proc["cpu"]))

    def _host_cpu(self, wall: float, sim: float, value: float, consumers: dict[str, tuple[float, bool]]) -> None:
        window, trouble = self._host, self.trouble["host_cpu"]
        mean = window.add(wall, sim, value, consumers)
        if not window.full:
            return
        trouble.see(mean)
        if mean < self.limits.host_cpu:
            return
        trouble.mark(*window.start, wall, sim)
        for item_wall, _, _, item_consumers in window.items:
            if item_wall > self._host_blamed_to:
                trouble.blame(item_consumers)
        self._host_blamed_to = wall

    def _generator_cpu(self, name: str, wall: float, sim: float, value: float) -> None:
        window = self._workers.setdefault(name, SlidingMean(self.limits.span_s))
        mean = window.add(wall, sim, value)
        trouble = self.trouble["generator_cpu"]
        if not window.full:
            return
        trouble.see(mean)
        if mean >= self.limits.generator_cpu:
            trouble.mark(*window.start, wall, sim)
            trouble.blame({name: (mean, True)})

    def unhealthy(self, wall_start: float, wall_end: float) -> list[str]:
        """The limits whose crossings touch [wall_start, wall_end]."""
        return [k for k, t in self.trouble.items() if t.touches(wall_start, wall_end)]


@dataclass
class WindowHealth:
    """The load windows a crossed limit touched, and the load generator's late starts per window."""

    monitor: RigMonitor
    grace_s: float  # a message sent this long before a crossing was already slow before it began
    limits: RigLimits = RIG
    windows: int = 0  # windows in which messages were sent
    unhealthy: int = 0
    late: Trouble = field(default_factory=Trouble)
    spans: list[list[float]] = field(default_factory=list)  # unhealthy windows, consecutive ones merged

    def judge(self, w: dict[str, Any]) -> list[str]:
        """Why this window cannot be trusted to speak for the bot ([] when the rig held)."""
        sent = int(w.get("sent", 0))
        if not sent:
            return []
        self.windows += 1
        wall_start, wall_end = float(w["wall_start"]), float(w["wall_end"])
        reasons = self.monitor.unhealthy(wall_start, wall_end + self.grace_s)
        share = int(w.get("late_starts", 0)) / sent
        self.late.see(share)
        if share > self.limits.late_start_share:
            reasons.append("late_starts")
            self.late.mark(wall_start, float(w["sim_start"]), wall_end, float(w["sim_end"]))
        if reasons:
            self.unhealthy += 1
            span = [wall_start, wall_end, float(w["sim_start"]), float(w["sim_end"])]
            if self.spans and self.spans[-1][1] >= wall_start:
                self.spans[-1][1], self.spans[-1][3] = span[1], span[3]
            else:
                self.spans.append(span)
        return reasons


def _spans(intervals: list[list[float]]) -> list[RigSpan]:
    return [RigSpan(wall_start=a, wall_end=b, sim_start=c, sim_end=d) for a, b, c, d in intervals[:SPANS_SHOWN]]


def _cpu_text(value: float | None, cores: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} cores" if cores else f"{value:.0%}"


def _check(
    check_id: RigCheckId,
    name: str,
    limit: float,
    unit: str,
    trouble: Trouble | None,
    measured: bool,
    detail: str,
    advice: str,
    decides: bool = True,
    crossed: bool | None = None,
) -> RigCheck:
    trouble = trouble or Trouble()
    return RigCheck(
        id=check_id,
        name=name,
        limit=limit,
        unit=unit,
        measured=measured,
        worst=trouble.worst if measured else None,
        crossed=bool(trouble.intervals) if crossed is None else crossed,
        decides_verdict=decides,
        seconds_crossed=round(trouble.seconds, 3),
        spans=_spans(trouble.intervals),
        consumers=trouble.top_consumers(),
        detail=detail,
        advice=advice,
    )


def _host_advice(trouble: Trouble) -> str:
    outside = [c.process for c in trouble.top_consumers() if not c.in_run and c.process != OUTSIDE_REST]
    stop = f"stop or move {', '.join(outside[:2])}, " if outside else ""
    return (
        f"{stop}run on a quieter or bigger machine, or lower the users (every simulated user costs the "
        "emulator and the load generator CPU as well); a Locust worker on another machine takes its share "
        "off this one (docs/scaling.md)"
    )


def _scrape_check(manifest: dict[str, Any], limits: RigLimits) -> RigCheck:
    failures = (manifest.get("prometheus") or {}).get("scrape_failures")
    measured = isinstance(failures, dict) and bool(failures)
    trouble = Trouble()
    worst_job = ""
    if measured and isinstance(failures, dict):
        for job, counts in sorted(failures.items()):
            scrapes = int(counts.get("scrapes", 0)) if isinstance(counts, dict) else 0
            share = int(counts.get("failed", 0)) / scrapes if scrapes else 0.0
            if trouble.worst is None or share > trouble.worst:
                worst_job = job
            trouble.see(share)
    detail = (
        f"worst target {worst_job}: {trouble.worst:.1%} of its scrapes failed"
        if measured and trouble.worst is not None
        else "Prometheus' scrape record was not kept (no Prometheus, or an older run)"
    )
    return _check(
        "scrape_failures",
        "Prometheus scrapes that failed, per target",
        limits.scrape_failure_share,
        "ratio",
        trouble,
        measured,
        detail,
        "alerts may have missed what happened between failed scrapes: see logs/prometheus.log and the "
        "target's log; the SLA verdicts come from the run folder, not from Prometheus",
        decides=False,
        crossed=trouble.worst is not None and trouble.worst > limits.scrape_failure_share,  # a whole-run figure
    )


def rig_health(
    monitor: RigMonitor | None, windows: WindowHealth | None, manifest: dict[str, Any], limits: RigLimits = RIG
) -> RigHealth | None:
    """report.json `rig`: every check of contract.RIG, which were crossed, where, by whom, what to do."""
    if monitor is None and windows is None:
        return None
    sampled = monitor is not None and monitor.samples > 0
    host = monitor.trouble["host_cpu"] if monitor else None
    generator = monitor.trouble["generator_cpu"] if monitor else None
    gaps = monitor.trouble["sampler_gaps"] if monitor else None
    span = f"mean over a sliding {limits.span_s:g} s"
    late = windows.late if windows else None
    checks = [
        _check(
            "host_cpu",
            "Host CPU, all cores",
            limits.host_cpu,
            "ratio",
            host,
            sampled,
            f"highest {span}: {_cpu_text(host.worst if host else None)} of all cores"
            + ("" if not monitor or monitor.samples_with_outside else "; processes outside the run not named"),
            _host_advice(host) if host else "",
        ),
        _check(
            "generator_cpu",
            "Load-generator worker CPU, share of one core",
            limits.generator_cpu,
            "ratio",
            generator,
            sampled,
            f"busiest worker, {span}: {_cpu_text(generator.worst if generator else None)} of a core",
            "add Locust workers (`harness run --workers N`, one per core) or workers on other machines "
            "(docs/scaling.md), or lower the users",
        ),
        _check(
            "late_starts",
            "Sends that started late, share of a window's sends",
            limits.late_start_share,
            "ratio",
            late,
            windows is not None and windows.windows > 0,
            f"worst window: {_cpu_text(late.worst if late else None)} of its sends started later than "
            "scheduled (the scenario's load.late_start_ms)",
            "the load generator fell behind its schedule: add Locust workers or machines, or lower the users",
        ),
        _check(
            "sampler_gaps",
            "Gaps in the resource samples",
            limits.sampler_gap_s,
            "s",
            gaps,
            sampled,
            f"longest gap between samples: {gaps.worst:.1f} s" if gaps and gaps.worst else "no gap",
            "the harness itself did not get the CPU to sample: see the host CPU check, and run on a quieter machine",
        ),
        _scrape_check(manifest, limits),
    ]
    held = not any(c.crossed and c.decides_verdict for c in checks)
    return RigHealth(
        held=held,
        checks=checks,
        windows=windows.windows if windows else 0,
        unhealthy_windows=windows.unhealthy if windows else 0,
        unhealthy_spans=_spans(windows.spans) if windows else [],
    )
