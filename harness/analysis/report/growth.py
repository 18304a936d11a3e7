"""Memory and file-descriptor growth per process, the growing allocation sites, and the soak verdict.

From samples.jsonl's per-process `rss` and `fds`: a straight line fitted after each process's
warm-up (contract.GrowthLimits says why and how long), as MB per hour (wall = simulated in real time),
per simulated hour and per 10,000 messages. From the memory snapshots (profiles/<window>/
<component>.memory.json, harness.core.memsnap): the allocation sites that grew most between the first
and the last. A shape-kind "soak" run gets a verdict on the slopes (contract.SoakLimits).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from harness.analysis.report.model import (
    GrowingSite,
    Growth,
    ProcessGrowth,
    Slope,
    SnapshotGrowth,
    SoakCheck,
    SoakVerdict,
)
from harness.core.contract import GROWTH, SOAK, GrowthLimits, SoakLimits
from harness.core.runfolder.reader import RunFolder

MB = 1024 * 1024
HOUR = 3600.0
MAX_FIT_POINTS = 240  # Theil-Sen is quadratic in points: neighbours are merged down to this many
BOT_PREFIX = "bot"  # "bot", or "bot-1", "bot-2", ... with replicas
RIG_PREFIXES = ("platform", "loadgen", "harness")  # the rig: emulator, load generator, orchestrator


@dataclass(frozen=True)
class Fit:
    slope: float  # per second
    intercept: float
    r2: float | None  # None: the values did not vary at all


def _thin(points: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    if len(points) <= limit:
        return points
    size = -(-len(points) // limit)
    chunks = [points[i : i + size] for i in range(0, len(points), size)]
    return [(statistics.fmean(x for x, _ in c), statistics.fmean(y for _, y in c)) for c in chunks]


def fit_line(points: list[tuple[float, float]]) -> Fit:
    """Theil-Sen: the median of the slopes between every pair of points, the median intercept; robust
    to a few outliers (a GC pause, a burst of allocations freed again) where least squares tilts.
    R^2 of that line against the points (how much of the variance a straight line explains)."""
    pts = _thin(sorted(points), MAX_FIT_POINTS)
    slopes = [(y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(pts) for x2, y2 in pts[i + 1 :] if x2 > x1]
    slope = statistics.median(slopes) if slopes else 0.0
    intercept = statistics.median(y - slope * x for x, y in pts)
    mean_y = statistics.fmean(y for _, y in pts)
    total = sum((y - mean_y) ** 2 for _, y in pts)
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in pts)
    return Fit(slope, intercept, None if total == 0 else 1.0 - residual / total)


@dataclass
class _Bins:
    """Per-`bin_s` sums of one process's samples: bin -> [wall, sim, rss, fds, n, n_fds]."""

    bins: dict[int, list[float]] = field(default_factory=dict)

    def add(self, key: int, wall: float, sim: float, rss: float, fds: float | None) -> None:
        acc = self.bins.setdefault(key, [0.0, 0.0, 0.0, 0.0, 0, 0])
        acc[0] += wall
        acc[1] += sim
        acc[2] += rss
        acc[4] += 1
        if fds is not None:
            acc[3] += fds
            acc[5] += 1


class GrowthTracker:
    """Fed each sample by the resources pass (one read of samples.jsonl); keeps per-bin means only, so
    a week of samples costs a few thousand numbers per process."""

    def __init__(self, limits: GrowthLimits = GROWTH) -> None:
        self.limits = limits
        self.processes: dict[str, _Bins] = {}
        # the load's end (the time map's wall duration): the drain after it sends nothing, so growth
        # that comes with messages stops there and would bend the line
        self.until_wall: float | None = None

    def add(self, wall: float, sim: float, procs: dict[str, Any]) -> None:
        if self.until_wall is not None and wall > self.until_wall:
            return
        key = int(wall // self.limits.bin_s)
        for name, proc in procs.items():
            if isinstance(proc, dict) and proc.get("rss") is not None:
                fds = proc.get("fds")
                self.processes.setdefault(name, _Bins()).add(
                    key, wall, sim, float(proc["rss"]), float(fds) if fds is not None else None
                )

    def process_growth(self, name: str, messages_per_s: float | None) -> ProcessGrowth | None:
        """The process's slopes after its warm-up; None when what is left is too short to tell."""
        limits = self.limits
        rows = sorted(  # (wall, sim, rss, fds) means per bin
            (acc[0] / acc[4], acc[1] / acc[4], acc[2] / acc[4], acc[3] / acc[5] if acc[5] else None)
            for acc in self.processes[name].bins.values()
        )
        first, last = rows[0][0], rows[-1][0]
        warmup = max(limits.warmup_min_s, limits.warmup_share * (last - first))
        steady = [r for r in rows if r[0] >= first + warmup]
        if len(steady) < limits.min_points or steady[-1][0] - steady[0][0] < limits.min_fit_s:
            return None
        span_s = steady[-1][0] - steady[0][0]
        sim_per_wall = (steady[-1][1] - steady[0][1]) / span_s

        def slope(points: list[tuple[float, float]], scale: float) -> Slope:
            fit = fit_line(points)
            per_s = fit.slope / scale
            return Slope(
                per_hour=per_s * HOUR,
                per_sim_hour=per_s * HOUR / sim_per_wall if sim_per_wall > 0 else None,
                per_10k_messages=per_s / messages_per_s * 10_000 if messages_per_s else None,
                r2=fit.r2,
                growth=per_s * span_s,
                start=(fit.intercept + fit.slope * steady[0][0]) / scale,
            )

        rss = slope([(r[0], r[2]) for r in steady], MB)
        fd_points = [(r[0], r[3]) for r in steady if r[3] is not None]
        fds = slope(fd_points, 1.0) if len(fd_points) >= limits.min_points else None
        return ProcessGrowth(
            component=name,
            fit_from_wall_s=steady[0][0],
            fit_to_wall_s=steady[-1][0],
            points=len(steady),
            rss_mb=rss,
            fds=fds,
            leak=is_leak(rss, limits),
        )


def is_leak(rss_mb: Slope, limits: GrowthLimits = GROWTH) -> bool:
    """Kept growing in a straight line after the warm-up, by more than churn and more than a share of
    the process (contract.GrowthLimits)."""
    return (
        rss_mb.r2 is not None
        and rss_mb.r2 >= limits.leak_min_r2
        and rss_mb.growth >= limits.leak_min_growth_mb
        and rss_mb.growth >= limits.leak_min_growth_share * max(rss_mb.start, 0.0)
    )


def _snapshots(folder: RunFolder) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """component -> [(window, snapshot)] in the order they were taken."""
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for path in sorted((folder.path / "profiles").glob("*/*.memory.json")):
        try:
            data = json.loads(path.read_text())
            data["taken_at"] = float(data["taken_at"])
            sites = [s for s in data["sites"] if isinstance(s, dict)]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            folder.warnings.append(f"memory snapshot {path.relative_to(folder.path)} unreadable: {exc!r}")
            continue
        component = path.name.removesuffix(".memory.json")
        found.setdefault(component, []).append((path.parent.name, {**data, "sites": sites}))
    for items in found.values():
        items.sort(key=lambda item: item[1]["taken_at"])
    return found


def _site_key(site: dict[str, Any]) -> tuple[str, int]:
    return (str(site.get("file")), int(site.get("line") or 0))


def snapshot_growth(folder: RunFolder, top: int = GROWTH.top_sites) -> list[SnapshotGrowth]:
    """Per component with two snapshots or more: the sites that grew most from the first to the last."""
    out = []
    for component, items in sorted(_snapshots(folder).items()):
        if len(items) < 2:
            continue
        (first_window, first), (last_window, last) = items[0], items[-1]
        before = {_site_key(s): s for s in first["sites"]}
        rows = []
        for site in last["sites"]:
            old = before.get(_site_key(site), {})
            grown = int(site.get("size") or 0) - int(old.get("size") or 0)
            if grown > 0:
                rows.append(
                    GrowingSite(
                        file=str(site.get("file")),
                        line=int(site.get("line") or 0),
                        function=str(site.get("function") or "?"),
                        growth_bytes=grown,
                        growth_blocks=int(site.get("count") or 0) - int(old.get("count") or 0),
                        size_bytes=int(site.get("size") or 0),
                    )
                )
        rows.sort(key=lambda r: -r.growth_bytes)
        out.append(
            SnapshotGrowth(
                component=component,
                first_window=first_window,
                last_window=last_window,
                seconds_between=round(last["taken_at"] - first["taken_at"], 1),
                traced_growth_bytes=int(last.get("traced_bytes") or 0) - int(first.get("traced_bytes") or 0),
                sites=rows[:top],
            )
        )
    return out


def soak_verdict(processes: list[ProcessGrowth], limits: SoakLimits | None = None) -> SoakVerdict:
    """pass / fail on every component's slopes; too_short when no slope covers `limits.min_fit_s`."""
    limits = limits or SOAK
    long_enough = [p for p in processes if p.fit_to_wall_s - p.fit_from_wall_s >= limits.min_fit_s]
    if not long_enough:
        return SoakVerdict(
            status="too_short",
            checks=[],
            detail=f"no process has {limits.min_fit_s:.0f} s of samples after its warm-up: no verdict",
        )
    checks = []
    for p in long_enough:
        if p.component.startswith(BOT_PREFIX):
            rss_limit = limits.bot_rss_mb_per_hour
        elif p.component.startswith(RIG_PREFIXES):
            rss_limit = limits.rig_rss_mb_per_hour
        else:
            continue
        checks.append(_check(p.component, "RSS MB per hour", p.rss_mb.per_hour, rss_limit))
        if p.fds is not None:
            checks.append(_check(p.component, "open fds per hour", p.fds.per_hour, limits.fds_per_hour))
    failed = [c for c in checks if c.status == "fail"]
    detail = (
        "; ".join(f"{c.component} {c.measure} {c.value:+.2f} >= {c.limit:g}" for c in failed)
        if failed
        else f"every slope under its limit over {len(long_enough)} processes"
    )
    return SoakVerdict(status="fail" if failed else "pass", checks=checks, detail=detail)


def _check(component: str, measure: str, value: float, limit: float) -> SoakCheck:
    return SoakCheck(
        component=component, measure=measure, value=value, limit=limit, status="pass" if value < limit else "fail"
    )


def growth_section(
    tracker: GrowthTracker, folder: RunFolder, messages_per_s: float | None, soak: bool
) -> Growth | None:
    processes = [g for name in sorted(tracker.processes) if (g := tracker.process_growth(name, messages_per_s))]
    snapshots = snapshot_growth(folder)
    if not processes and not snapshots and not soak:
        return None
    return Growth(
        limits=dataclasses.asdict(tracker.limits),
        processes=processes,
        snapshots=snapshots,
        soak=soak_verdict(processes) if soak else None,
    )
