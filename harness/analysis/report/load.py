"""Load and latency from windows.jsonl: totals, merged histograms, chart series and peak zooms.

One pass over the file, one histogram per open bucket: memory stays flat however long the run.
Percentiles always come from merged HdrHistograms, never from averaged percentiles. A message whose
reply timed out has no latency in the window's histogram; it is counted at the reply timeout (a lower
bound of its real latency) so that timeouts push P99 up instead of vanishing from it.

Each window is also judged for rig health (harness.analysis.report.rig): the same totals and
histograms are kept over the windows where the rig held, so that an SLA can be judged again there,
and the windows are kept as up to MAX_BLOCKS blocks of sparse histogram counts for the baseline
comparison's bootstrap (harness.analysis.report.compare).
"""

from __future__ import annotations

import gc
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.analysis.report.model import LatencySummary, LoadTotals, PeakWindow
from harness.analysis.report.rig import WindowHealth
from harness.core import histograms
from harness.core.runfolder.reader import RunFolder
from harness.core.timemap import Segment

GC_EVERY_WINDOWS = 1000
ZOOM_MAX_POINTS = 400  # a peak zoom keeps at most this many points (windows merged beyond that)
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
MAX_BLOCKS = 200  # windows with messages, merged pairwise in time order beyond twice this many


def sparse_counts(hist: HdrHistogram) -> Counter[int]:
    """A histogram's non-zero buckets: HdrHistogram bucket index -> count (indices ascend with value)."""
    counts = np.ctypeslib.as_array(hist.counts)[: hist.encoder.payload.counts_len]
    indices = np.flatnonzero(counts)
    return Counter(dict(zip(indices.tolist(), counts[indices].tolist(), strict=True)))


@dataclass
class Block:
    """Consecutive windows with messages, for the bootstrap: their counts and their reply histogram."""

    sent: int
    replies_ok: int
    timeouts: int
    counts: Counter[int]  # sparse_counts of reply_hist, timeouts included at the reply timeout
    healthy: bool = True  # the rig held in every window of the block

    def merge(self, other: Block) -> Block:
        return Block(
            self.sent + other.sent,
            self.replies_ok + other.replies_ok,
            self.timeouts + other.timeouts,
            self.counts + other.counts,
            self.healthy and other.healthy,
        )


@dataclass
class Blocks:
    """Up to 2 * MAX_BLOCKS blocks; when full, neighbours merge pairwise (memory stays bounded)."""

    items: list[Block] = field(default_factory=list)

    def add(self, w: dict[str, Any], hist: HdrHistogram | None, healthy: bool) -> None:
        sent = int(w.get("sent", 0))
        if not sent:
            return
        counts = sparse_counts(hist) if hist is not None else Counter()
        self.items.append(Block(sent, int(w.get("replies_ok", 0)), int(w.get("timeouts", 0)), counts, healthy))
        if len(self.items) > 2 * MAX_BLOCKS:
            pairs = zip(self.items[0::2], self.items[1::2], strict=False)
            merged = [a.merge(b) for a, b in pairs]
            if len(self.items) % 2:
                merged.append(self.items[-1])
            self.items = merged


def latency_summary(hist: HdrHistogram) -> LatencySummary:
    """Count, percentiles and max in seconds. Same values as hdrh's get_value_at_percentile, but from
    one numpy cumulative sum instead of a Python loop over the counts per percentile (100x faster)."""
    count = hist.get_total_count()
    if not count:
        return LatencySummary(count=0, **dict.fromkeys(PERCENTILES), max=None)
    cumulative = np.cumsum(np.ctypeslib.as_array(hist.counts)[: hist.encoder.payload.counts_len])
    values = {}
    for name, pct in PERCENTILES.items():
        index = int(np.searchsorted(cumulative, hist.get_target_count_at_percentile(pct)))
        values[name] = hist.get_highest_equivalent_value(hist.get_value_from_index(index)) / 1_000_000
    return LatencySummary(count=count, **values, max=hist.get_max_value() / 1_000_000)


@dataclass
class Totals:
    offered: int = 0
    sent: int = 0
    replies_ok: int = 0
    timeouts: int = 0
    errors: int = 0
    late_starts: int = 0
    windows: int = 0
    wall_seconds: float = 0.0
    users_max: int = 0
    errors_by_kind: Counter[str] = field(default_factory=Counter)

    def add(self, w: dict[str, Any]) -> None:
        self.offered += int(w.get("offered", 0))
        self.sent += int(w.get("sent", 0))
        self.replies_ok += int(w.get("replies_ok", 0))
        self.timeouts += int(w.get("timeouts", 0))
        self.errors += int(w.get("errors", 0))
        self.late_starts += int(w.get("late_starts", 0))
        self.windows += 1
        self.wall_seconds += max(float(w["wall_end"]) - float(w["wall_start"]), 0.0)
        self.users_max = max(self.users_max, int(w.get("users", 0)))
        self.errors_by_kind.update({k: int(v) for k, v in (w.get("errors_by_kind") or {}).items()})

    def availability(self) -> float | None:
        """The user side of the availability SLI (contract.AVAILABILITY): messages with a final reply
        within the reply timeout / messages sent. A send that failed at the socket was never sent."""
        return self.replies_ok / self.sent if self.sent else None

    def summary(self) -> LoadTotals:
        return LoadTotals(
            offered=self.offered,
            sent=self.sent,
            replies_ok=self.replies_ok,
            timeouts=self.timeouts,
            errors=self.errors,
            late_starts=self.late_starts,
            windows=self.windows,
            wall_seconds=round(self.wall_seconds, 3),
            users_max=self.users_max,
            errors_by_kind=dict(self.errors_by_kind.most_common()),
            availability=self.availability(),
        )


def _clear(hist: HdrHistogram) -> None:
    """hdrh's reset() zeroes the counts in a Python loop (1.6 ms); numpy does it in microseconds."""
    np.ctypeslib.as_array(hist.counts)[:] = 0
    hist.total_count, hist.min_value, hist.max_value = 0, sys.maxsize, 0


@dataclass
class PointSeries:
    """Windows merged into chart points of `span` simulated seconds. One histogram is reset and
    reused for every point: hdrh histograms hold a reference cycle, so short-lived ones would pile
    up until a full garbage collection and make memory grow with the run's length."""

    span: float
    aligned: bool  # points on a fixed grid (the run's chart buckets) or from the first window on
    rollup: HdrHistogram | None = None  # each closed point is added here: one add per point, not per window
    points: list[dict[str, Any]] = field(default_factory=list)
    _start: float | None = None
    _end: float = 0.0
    _totals: Totals = field(default_factory=Totals)
    _hist: HdrHistogram = field(default_factory=histograms.new_histogram)

    def add(self, w: dict[str, Any], hist: HdrHistogram | None) -> None:
        sim = float(w["sim_start"])
        if self._start is not None and sim >= self._start + self.span:
            self.close()
        if self._start is None:
            self._start = sim // self.span * self.span if self.aligned else sim
        self._end = max(self._end, float(w["sim_end"]))
        self._totals.add(w)
        if hist is not None:
            self._hist.add(hist)

    def close(self) -> None:
        if self._start is None:
            return
        t = self._totals
        wall = t.wall_seconds or 1.0
        point = {
            "sim": self._start,
            "sim_end": self._end,
            "users": t.users_max,
            "offered_rate": t.offered / wall,
            "achieved_rate": t.replies_ok / wall,
            "timeouts": t.timeouts,
            "errors": t.errors,
        }
        point.update(latency_summary(self._hist).model_dump(exclude={"count"}))
        self.points.append(point)
        if self.rollup is not None:
            self.rollup.add(self._hist)
        self._start, self._end, self._totals = None, 0.0, Totals()
        _clear(self._hist)


@dataclass
class Judged:
    """Totals and the reply histogram over some windows (all of them, or those where the rig held)."""

    totals: Totals = field(default_factory=Totals)
    hist: HdrHistogram = field(default_factory=histograms.new_histogram)

    def add(self, w: dict[str, Any], hist: HdrHistogram | None) -> None:
        self.totals.add(w)
        if hist is not None:
            self.hist.add(hist)


@dataclass
class Peak:
    segment: Segment
    totals: Totals = field(default_factory=Totals)
    hist: HdrHistogram = field(default_factory=histograms.new_histogram)
    zoom: PointSeries = field(init=False)
    healthy: Judged = field(default_factory=Judged)  # the windows of this peak where the rig held

    def __post_init__(self) -> None:
        span = (self.segment.sim_end - self.segment.sim_start) / ZOOM_MAX_POINTS
        self.zoom = PointSeries(span, aligned=False, rollup=self.hist)  # self.hist is complete once closed

    def add(self, w: dict[str, Any], hist: HdrHistogram | None, healthy: bool) -> None:
        self.totals.add(w)
        self.zoom.add(w, hist)
        if healthy:
            self.healthy.add(w, hist)

    @property
    def points(self) -> list[dict[str, Any]]:
        return self.zoom.points

    @property
    def label(self) -> str:
        return self.segment.label

    def window(self) -> PeakWindow:
        s = self.segment
        return PeakWindow(
            day=s.day,
            label=self.label,
            sim_start=s.sim_start,
            sim_end=s.sim_end,
            wall_start=s.wall_start,
            wall_end=s.wall_end,
            latency=latency_summary(self.hist),
            totals=self.totals.summary(),
        )


@dataclass
class LoadResult:
    totals: Totals
    reply: HdrHistogram
    first_chunk: HdrHistogram
    series: list[dict[str, Any]]
    peaks: list[Peak]
    sim_start: float | None
    sim_end: float | None
    wall_end: float | None
    healthy: Judged = field(default_factory=Judged)  # the windows where the rig held
    health: WindowHealth | None = None  # which windows a crossed rig limit touched
    blocks: Blocks = field(default_factory=Blocks)


def _window_hist(w: dict[str, Any], key: str, timeout_us: int, folder: RunFolder) -> HdrHistogram | None:
    text = w.get(key)
    hist = None
    if text:
        try:
            hist = histograms.decode(text)
        except Exception as exc:  # hdrh raises bare Exceptions and zlib / binascii errors
            folder.problems.append(f"windows.jsonl: window at wall {w.get('wall_start')} has a bad {key}: {exc!r}")
            return None
    timeouts = int(w.get("timeouts", 0)) if key == "reply_hist" else 0
    if timeouts:
        hist = hist or histograms.new_histogram()
        hist.record_value(timeout_us, timeouts)
    return hist


def aggregate_load(folder: RunFolder, reply_timeout_s: float | None, health: WindowHealth | None = None) -> LoadResult:
    timeout_us = int(reply_timeout_s * 1_000_000) if reply_timeout_s else histograms.HIGHEST_US
    healthy, blocks = Judged(), Blocks()
    totals = Totals()
    reply, first_chunk = histograms.new_histogram(), histograms.new_histogram()
    peaks = [Peak(s) for s in folder.peak_segments()]
    series_points = PointSeries(folder.bucket_s(), aligned=True, rollup=reply)  # reply is complete once closed
    sim_start = sim_end = wall_end = None
    for number, w in enumerate(folder.iter_jsonl("windows.jsonl"), 1):
        if number % GC_EVERY_WINDOWS == 0:
            gc.collect()  # decoded hdrh histograms are reference cycles: free them in bounded batches
        try:
            w_sim, w_sim_end, w_wall_end = float(w["sim_start"]), float(w["sim_end"]), float(w["wall_end"])
            float(w["wall_start"])
        except (KeyError, TypeError, ValueError) as exc:
            folder.problems.append(f"windows.jsonl: a window lacks its time fields ({exc!r}); skipped")
            continue
        hist = _window_hist(w, "reply_hist", timeout_us, folder)
        chunk_hist = _window_hist(w, "first_chunk_hist", timeout_us, folder)
        totals.add(w)
        if chunk_hist is not None:
            first_chunk.add(chunk_hist)
        sim_start = w_sim if sim_start is None else min(sim_start, w_sim)
        sim_end = w_sim_end if sim_end is None else max(sim_end, w_sim_end)
        wall_end = w_wall_end if wall_end is None else max(wall_end, w_wall_end)
        series_points.add(w, hist)
        held = health is None or not health.judge(w)
        if held:
            healthy.add(w, hist)
        blocks.add(w, hist, held)
        for peak in peaks:
            if peak.segment.sim_start <= w_sim < peak.segment.sim_end:
                peak.add(w, hist, held)
    series_points.close()
    for peak in peaks:
        peak.zoom.close()
    return LoadResult(
        totals, reply, first_chunk, series_points.points, peaks, sim_start, sim_end, wall_end, healthy, health, blocks
    )
