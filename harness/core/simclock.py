"""The simulated week's clock: seconds since Monday 00:00, and "Wed 10:15" style names for them."""

from __future__ import annotations

import re

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKEND_DAYS = frozenset({5, 6})

_SIM_RE = re.compile(r"^\s*([A-Za-z]{3})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")
_HOUR_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_sim(text: str) -> float:
    """'Wed 10:15' or 'Wed 10:15:30' -> seconds since Monday 00:00. Raises ValueError."""
    match = _SIM_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a simulated time like 'Wed 10:15'")
    day_name, hh, mm, ss = match.groups()
    names = [d.lower() for d in DAY_NAMES]
    if day_name.lower() not in names:
        raise ValueError(f"{text!r}: day must be one of {', '.join(DAY_NAMES)}")
    hours, minutes, seconds = int(hh), int(mm), int(ss or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"{text!r}: time of day out of range")
    return names.index(day_name.lower()) * DAY_S + hours * 3600 + minutes * 60 + seconds


def parse_hour(text: str) -> float:
    """'09:30' -> hours as a float (9.5); '24:00' allowed as the end of a day."""
    match = _HOUR_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time of day like '09:30'")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{text!r}: time of day out of range")
    return hours + minutes / 60


def format_sim(sim_s: float, *, end: bool = False, day: bool = True) -> str:
    """Seconds since Monday 00:00 -> 'Wed 10:15', the clock every report, chart and console line uses.
    Days past Sunday read 'Mon+1w 10:15'. An `end` on midnight reads as the day before's 24:00 (a span
    'Tue 10:30-24:00' ends on its own day); `day=False` leaves out the day ('10:15')."""
    days, rest = divmod(int(sim_s), int(DAY_S))
    if end and rest == 0 and days > 0:
        days, rest = days - 1, int(DAY_S)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
    if not day:
        return clock
    week = f"+{days // 7}w" if days >= 7 else ""
    return f"{DAY_NAMES[days % 7]}{week} {clock}"


def format_span(start_s: float, end_s: float) -> str:
    """A simulated span as 'Tue 09:30-10:30' (the end's day is left out)."""
    return f"{format_sim(start_s)}-{format_sim(end_s, end=True, day=False)}"


def day_of(sim_s: float) -> int:
    return int(sim_s // DAY_S) % 7


def hour_of(sim_s: float) -> float:
    return (sim_s % DAY_S) / 3600
