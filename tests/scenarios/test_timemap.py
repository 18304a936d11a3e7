from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.simclock import DAY_S, WEEK_S, format_sim, format_span, parse_hour, parse_sim
from harness.core.timemap import steady_timemap, week_timemap
from harness.core.week import WEEKDAY_CURVE, WEEKEND_CURVE, WeekProfile, check_curve, curve_value

pytestmark = pytest.mark.unit


def default_week(factor=14400.0, peak_wall=60.0, weekend_peak_wall=30.0):
    return week_timemap(factor, 9.5, 10.5, peak_wall, weekend_peak_wall)


def test_week_covers_seven_days_contiguously_with_one_peak_per_day():
    tm = default_week()
    assert tm.sim_start == 0 and tm.sim_end == WEEK_S
    for a, b in pairwise(tm.segments):
        assert a.wall_end == pytest.approx(b.wall_start) and a.sim_end == pytest.approx(b.sim_start)
    peaks = [s for s in tm.segments if s.kind == "peak"]
    assert [p.day for p in peaks] == list(range(7))
    assert all(p.sim_start % DAY_S == 9.5 * 3600 for p in peaks)
    assert [p.wall_end - p.wall_start for p in peaks] == [60.0] * 5 + [30.0] * 2


def test_default_week_lasts_a_few_minutes_mostly_in_peaks():
    tm = default_week()
    peak_wall = sum(s.wall_end - s.wall_start for s in tm.segments if s.kind == "peak")
    assert 300 <= tm.wall_duration <= 420
    assert peak_wall / tm.wall_duration > 0.85


def test_factor_one_is_a_real_week():
    tm = default_week(factor=1)
    assert tm.wall_duration == pytest.approx(WEEK_S)
    assert all(s.speed == pytest.approx(1.0) for s in tm.segments)


def test_peak_is_never_faster_than_the_offpeak_factor():
    tm = week_timemap(10, 9.5, 10.5, 5, 5)  # 1 h at factor 10 needs 360 s, more than the 5 s asked
    peak = next(s for s in tm.segments if s.kind == "peak")
    assert peak.wall_end - peak.wall_start == pytest.approx(360)


@given(st.floats(min_value=0, max_value=WEEK_S))
def test_wall_and_sim_are_inverse(sim):
    tm = default_week()
    assert tm.sim_at(tm.wall_at(sim)) == pytest.approx(sim, abs=1e-3)


def test_sim_at_clamps_outside_the_map():
    tm = default_week()
    assert tm.sim_at(-5) == 0 and tm.sim_at(tm.wall_duration + 100) == WEEK_S


def test_unix_time_maps_through_the_run_start():
    tm = default_week()
    start = 1_764_000_000.0
    wall = tm.peaks[2].wall_start + 30  # half way into Wednesday's one-minute peak
    assert tm.sim_at_unix(start + wall, start) == pytest.approx(parse_sim("Wed 10:00"))


def test_segments_name_their_span_and_say_whether_they_were_fast_forwarded():
    compressed, real = default_week(), default_week(factor=1)
    assert [p.label for p in compressed.peaks[:2]] == ["Mon 09:30-10:30", "Tue 09:30-10:30"]
    assert compressed.segments[-1].label == "Sun 10:30-24:00"
    assert [s.fast_forwarded for s in compressed.segments[:3]] == [True, False, True]
    assert not any(s.fast_forwarded for s in real.segments)  # factor 1: every stretch is played


def test_steady_map_is_real_time_from_its_start():
    tm = steady_timemap(parse_sim("Tue 10:00"), 60)
    assert tm.segments[0].kind == "steady" and tm.segments[0].day == 1
    assert tm.sim_at(30) == parse_sim("Tue 10:00") + 30


def test_profile_peaks_at_ten_with_lunch_dip_and_shoulder():
    profile = WeekProfile()
    tue = DAY_S
    at = {h: profile.fraction(tue + h * 3600) for h in (3, 8, 10, 12.5, 15)}
    assert max(at, key=at.get) == 10 and at[10] == 1.0
    assert at[12.5] < at[15] < at[10] and at[3] < at[8]
    sat_peak = profile.fraction(5 * DAY_S + 10 * 3600)
    assert sat_peak < at[10] and sat_peak == max(profile.fraction(5 * DAY_S + h * 1800) for h in range(48))


def test_default_curves_are_valid_and_interpolate():
    assert check_curve(WEEKDAY_CURVE) == WEEKDAY_CURVE and check_curve(WEEKEND_CURVE) == WEEKEND_CURVE
    assert curve_value(((0, 0.0), (24, 1.0)), 6) == pytest.approx(0.25)


@pytest.mark.parametrize(
    "bad",
    [[[0, 0.1]], [[1, 0.1], [24, 0.2]], [[0, 0.1], [12, 1.5], [24, 0]], [[0, 0.1], [12, 0.2], [12, 0.3], [24, 0]]],
)
def test_bad_curves_are_rejected(bad):
    with pytest.raises(ValueError):
        check_curve(bad)


def test_sim_clock_names():
    assert parse_sim("Wed 10:15") == 2 * DAY_S + 10.25 * 3600
    assert format_sim(parse_sim("sun 23:59:30")) == "Sun 23:59"
    assert format_sim(WEEK_S + parse_sim("Tue 08:05")) == "Tue+1w 08:05"  # a second week says so
    assert format_sim(2 * DAY_S, end=True) == "Tue 24:00" and format_sim(2 * DAY_S) == "Wed 00:00"
    assert format_sim(parse_sim("Wed 10:15"), day=False) == "10:15"
    assert format_span(parse_sim("Tue 09:30"), parse_sim("Tue 10:30")) == "Tue 09:30-10:30"
    assert parse_hour("24:00") == 24
    for bad in ("Wed", "Xyz 10:00", "Mon 25:00", "Mon 10:61"):
        with pytest.raises(ValueError):
            parse_sim(bad)
