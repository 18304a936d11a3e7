"""The daily load profile: which share of the peak users are online at a given simulated time.

A day is a piecewise-linear curve of (hour, fraction) points; weekdays and weekends have their own
curve. Both defaults peak at 10:00, dip at lunch and keep an afternoon shoulder.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from harness.core.simclock import WEEKEND_DAYS, day_of, hour_of

Curve = tuple[tuple[float, float], ...]

WEEKDAY_CURVE: Curve = (
    (0, 0.02),
    (6, 0.03),
    (7, 0.10),
    (8, 0.45),
    (9, 0.85),
    (10, 1.00),
    (11, 0.90),
    (12, 0.55),
    (12.5, 0.45),
    (13.5, 0.55),
    (14.5, 0.75),
    (16, 0.72),
    (17, 0.55),
    (18, 0.30),
    (19, 0.15),
    (21, 0.08),
    (24, 0.02),
)
WEEKEND_CURVE: Curve = (
    (0, 0.01),
    (7, 0.03),
    (9, 0.20),
    (10, 0.30),
    (12, 0.18),
    (13, 0.15),
    (15, 0.20),
    (18, 0.12),
    (21, 0.06),
    (24, 0.01),
)


def check_curve(points: Sequence[Sequence[float]]) -> Curve:
    """Validate a curve: pairs (hour, fraction), hours rising from 0 to 24, fractions in [0, 1]."""
    curve = tuple((float(p[0]), float(p[1])) for p in points)
    if any(len(p) != 2 for p in points):
        raise ValueError("each point must be [hour, fraction]")
    if len(curve) < 2 or curve[0][0] != 0 or curve[-1][0] != 24:
        raise ValueError("a curve must start at hour 0 and end at hour 24")
    hours = [h for h, _ in curve]
    if any(b <= a for a, b in pairwise(hours)):
        raise ValueError("hours must be strictly increasing")
    if any(not 0 <= f <= 1 for _, f in curve):
        raise ValueError("fractions must be between 0 and 1")
    return curve


def curve_value(curve: Curve, hour: float) -> float:
    hours = [h for h, _ in curve]
    i = bisect.bisect_right(hours, hour)
    if i == 0:
        return curve[0][1]
    if i >= len(curve):
        return curve[-1][1]
    (h0, f0), (h1, f1) = curve[i - 1], curve[i]
    return f0 + (f1 - f0) * (hour - h0) / (h1 - h0)


@dataclass(frozen=True)
class WeekProfile:
    weekday: Curve = WEEKDAY_CURVE
    weekend: Curve = WEEKEND_CURVE

    def fraction(self, sim_s: float) -> float:
        """Share of the peak users online at simulated time sim_s (seconds since Monday 00:00)."""
        curve = self.weekend if day_of(sim_s) in WEEKEND_DAYS else self.weekday
        return curve_value(curve, hour_of(sim_s))
