"""Load shapes as pure functions of wall time: how many users are online, and the simulated clock.

The Locust LoadTestShape in scenarios/locustfile.py only asks `Plan.users_at(run_time)`; everything
here is plain arithmetic, unit-tested without Locust.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from harness.core import simclock
from harness.core.scenario.schema import Scenario
from harness.core.timemap import TimeMap, steady_timemap, week_timemap
from harness.core.week import WeekProfile


@dataclass(frozen=True)
class Plan:
    """A scenario's shape resolved into a time map and a user curve. `duration` includes the drain."""

    scenario: Scenario
    timemap: TimeMap

    @property
    def play_s(self) -> float:
        return self.timemap.wall_duration

    @property
    def duration_s(self) -> float:
        return self.play_s + self.scenario.load.drain_s

    @cached_property
    def profile(self) -> WeekProfile:
        """The daily curves of a week shape (the defaults for other shapes, which do not use them)."""
        shape = self.scenario.shape
        return WeekProfile(tuple(map(tuple, shape.weekday_curve)), tuple(map(tuple, shape.weekend_curve)))

    @property
    def per_user_rate(self) -> float:
        """Messages per second each chatting user sends (Poisson)."""
        return self.scenario.load.messages_per_user_per_minute / 60.0

    def users_at(self, wall_s: float) -> int | None:
        """Users online at wall_s seconds after start; 0 while draining; None when the run is over."""
        if wall_s >= self.duration_s:
            return None
        if wall_s >= self.play_s:
            return 0
        shape = self.scenario.shape
        if shape.kind == "week":
            fraction = self.profile.fraction(self.timemap.sim_at(wall_s))
            return max(shape.min_users, round(shape.peak_users * fraction))
        if shape.kind == "spike" and shape.spike_at_s <= wall_s < shape.spike_at_s + shape.spike_duration_s:
            return shape.spike_users
        return shape.users

    def spawn_rate(self) -> float:
        """Users started or stopped per second when the count changes (default: any change within ~0.25 s)."""
        shape = self.scenario.shape
        if shape.spawn_rate:
            return shape.spawn_rate
        return 4.0 * max(shape.peak_users, shape.users, shape.spike_users if shape.kind == "spike" else 0)

    def offered_rate_at(self, wall_s: float) -> float:
        """Messages per second the shape offers at wall_s (chat users only, before the mix)."""
        users = self.users_at(wall_s)
        return (users or 0) * self.per_user_rate


def build_plan(scenario: Scenario) -> Plan:
    shape, comp = scenario.shape, scenario.compression
    if shape.kind == "week":
        start_h, end_h = (simclock.parse_hour(w) for w in comp.peak_window)
        timemap = week_timemap(comp.factor, start_h, end_h, comp.peak_wall_s, comp.weekend_peak_wall_s, shape.days)
    else:
        timemap = steady_timemap(simclock.parse_sim(shape.start), shape.duration_s)
    return Plan(scenario, timemap)
