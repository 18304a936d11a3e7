"""Wall time <-> simulated time: the week compressed without losing its peaks.

Each simulated day is cut into fast-forwarded stretches and one peak window. Fast stretches advance
`factor` simulated seconds per wall second; the peak window is played over `peak_wall_s` wall seconds
(never faster than `factor`), so rate windows and `for:` clauses see minutes of real load at the
peak. With factor 1 the whole week is played in real time. Offered load always follows the simulated
time of day: compression changes how long a stretch lasts, never how hard it is.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from harness.core.simclock import DAY_S, WEEKEND_DAYS, day_of, format_span


@dataclass(frozen=True)
class Segment:
    wall_start: float
    wall_end: float
    sim_start: float
    sim_end: float
    day: int
    kind: str  # "peak", "fast" or "steady" (smoke / spike / soak: real time)

    @classmethod
    def from_dict(cls, item: dict) -> Segment:
        """One segment as timemap.json holds it; `day` and `kind` default (from `sim_start`, "fast") for
        hand-made maps. Raises KeyError, TypeError or ValueError on a malformed segment (one that
        plays no wall time could map no instant)."""
        sim_start = float(item["sim_start"])
        segment = cls(
            float(item["wall_start"]),
            float(item["wall_end"]),
            sim_start,
            float(item["sim_end"]),
            int(item.get("day", sim_start // DAY_S)),
            str(item.get("kind", "fast")),
        )
        if not segment.wall_end > segment.wall_start:
            raise ValueError(f"segment at wall {segment.wall_start}: wall_end must be after wall_start")
        return segment

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second."""
        return (self.sim_end - self.sim_start) / (self.wall_end - self.wall_start)

    @property
    def fast_forwarded(self) -> bool:
        """An off-peak stretch of a compressed week: simulated time ran faster than real time. A factor-1
        week's "fast" stretches are real time, so they count as played."""
        return self.kind == "fast" and self.speed > 1 + 1e-9

    @property
    def label(self) -> str:
        """The simulated span as 'Tue 09:30-10:30'."""
        return format_span(self.sim_start, self.sim_end)


class TimeMap:
    def __init__(self, segments: Sequence[Segment]):
        if not segments:
            raise ValueError("a time map needs at least one segment")
        self.segments = tuple(segments)
        self._wall_starts = [s.wall_start for s in self.segments]
        self._sim_starts = [s.sim_start for s in self.segments]

    @property
    def wall_duration(self) -> float:
        return self.segments[-1].wall_end

    @property
    def sim_start(self) -> float:
        return self.segments[0].sim_start

    @property
    def sim_end(self) -> float:
        return self.segments[-1].sim_end

    @property
    def peaks(self) -> list[Segment]:
        return [s for s in self.segments if s.kind == "peak"]

    def segment_at(self, wall_s: float) -> Segment:
        i = max(0, bisect.bisect_right(self._wall_starts, wall_s) - 1)
        return self.segments[i]

    def sim_at(self, wall_s: float) -> float:
        """Simulated time at wall_s seconds after run start (clamped to the map's ends)."""
        if wall_s <= 0:
            return self.sim_start
        if wall_s >= self.wall_duration:
            return self.sim_end
        seg = self.segment_at(wall_s)
        return seg.sim_start + (wall_s - seg.wall_start) * seg.speed

    def sim_at_unix(self, unix: float, run_start_unix: float) -> float:
        """Simulated time at a wall-clock instant (now, a log timestamp) of a run started at run_start_unix."""
        return self.sim_at(unix - run_start_unix)

    def wall_at(self, sim_s: float) -> float:
        """Wall seconds after run start at which simulated time sim_s is played (clamped)."""
        if sim_s <= self.sim_start:
            return 0.0
        if sim_s >= self.sim_end:
            return self.wall_duration
        i = max(0, bisect.bisect_right(self._sim_starts, sim_s) - 1)
        seg = self.segments[i]
        return seg.wall_start + (sim_s - seg.sim_start) / seg.speed

    def to_json(self, run_start_unix: float | None) -> dict:
        return {"run_start_unix": run_start_unix, "segments": [asdict(s) for s in self.segments]}

    @classmethod
    def from_json(cls, data: dict) -> TimeMap:
        return cls([Segment.from_dict(s) for s in data["segments"]])


def week_timemap(
    factor: float,
    peak_start_h: float,
    peak_end_h: float,
    peak_wall_s: float,
    weekend_peak_wall_s: float,
    days: int = 7,
) -> TimeMap:
    """Monday 00:00 to the end of day `days`: per day a fast stretch, the peak window, a fast stretch."""
    if factor < 1:
        raise ValueError("compression factor must be >= 1")
    if not 0 <= peak_start_h < peak_end_h <= 24:
        raise ValueError("peak window must satisfy 0 <= start < end <= 24")
    segments: list[Segment] = []
    wall = 0.0
    for day in range(days):
        base = day * DAY_S
        peak_span = (peak_end_h - peak_start_h) * 3600
        peak_wall = weekend_peak_wall_s if day in WEEKEND_DAYS else peak_wall_s
        # the peak is never played faster than the off-peak factor (factor 1 = real time everywhere)
        peak_wall = max(peak_wall, peak_span / factor)
        parts = [
            (base, base + peak_start_h * 3600, "fast", None),
            (base + peak_start_h * 3600, base + peak_end_h * 3600, "peak", peak_wall),
            (base + peak_end_h * 3600, base + DAY_S, "fast", None),
        ]
        for sim_start, sim_end, kind, wall_len in parts:
            if sim_end <= sim_start:
                continue
            length = wall_len if wall_len is not None else (sim_end - sim_start) / factor
            segments.append(Segment(wall, wall + length, sim_start, sim_end, day, kind))
            wall += length
    return TimeMap(segments)


def steady_timemap(sim_start: float, duration_s: float) -> TimeMap:
    """Real time from sim_start for duration_s (smoke, spike and soak runs)."""
    if duration_s <= 0:
        raise ValueError("duration must be positive")
    return TimeMap([Segment(0.0, duration_s, sim_start, sim_start + duration_s, day_of(sim_start), "steady")])
