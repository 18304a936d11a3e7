"""Burn-rate cases for each SLO and window pair: error ratio exactly at the pair's threshold (quiet),
just above it (fires), and a burst that ended longer ago than the short window (quiet: the short
window is what makes a burn-rate alert reset quickly).

Samples every minute. Which of an alert's window-pair rules fire is worked out by a small model of
the windowed error ratio, so every case states the full set of alerts promtool must see.
"""

from __future__ import annotations

from harness.core.contract import AVAILABILITY, THRESHOLDS
from harness.observability.rules import slo
from harness.observability.rules.cases import Case, Expect, counter, rule
from harness.observability.rules.model import le_label

JOB = {"job": "bot", "instance": "bot:9000"}
MINUTES = {"m": 1, "h": 60, "d": 1440}


def minutes(duration: str) -> int:
    return int(duration[:-1]) * MINUTES[duration[-1]]


Profile = list[tuple[int, float]]  # (minutes, error ratio) segments from t=0


def window_ratio(profile: Profile, per_minute: int, end: int, window: int) -> float:
    """Error ratio over (end - window, end], from whole event counts as PromQL sees them."""
    bad_per_minute = [round(per_minute * r) for length, r in profile for _ in range(length)]
    span = bad_per_minute[max(0, end - window) : end]
    return sum(span) / (per_minute * len(span))


def _threshold(s: slo.Slo, w: slo.BurnWindow) -> float:
    return w.factor * s.budget  # as PromQL computes `(factor * budget)`


class SloSeries:
    def __init__(self, s: slo.Slo, per_minute: int) -> None:
        self.slo = s
        self.per_minute = per_minute

    def events(self, ratio: float) -> int:
        bad = self.per_minute * ratio
        if abs(bad - round(bad)) > 1e-6:
            raise ValueError(f"{self.slo.name}: {ratio} of {self.per_minute} events is not a whole number")
        return round(bad)

    def series(self, profile: Profile) -> dict[str, str]:
        bad = [(length, self.events(r)) for length, r in profile]
        good = [(length, self.per_minute - b) for length, b in bad]
        if self.slo.name == AVAILABILITY.name:
            return {
                _sel(AVAILABILITY.bot_metric, AVAILABILITY.bot_good_outcome): counter(*good),
                _sel(AVAILABILITY.bot_metric, "failed"): counter(*bad),
            }
        metric = "chatbot_message_processing_seconds"
        le = le_label(THRESHOLDS.p99_latency_seconds)
        every = counter(*((n, self.per_minute) for n, _ in profile))
        return {
            f'{metric}_bucket{{job="bot",instance="bot:9000",le="{le}"}}': counter(*good),
            f'{metric}_bucket{{job="bot",instance="bot:9000",le="+Inf"}}': every,
            f'{metric}_count{{job="bot",instance="bot:9000"}}': every,
        }


def _sel(metric: str, outcome: str) -> str:
    return f'{metric}{{job="bot",instance="bot:9000",outcome="{outcome}"}}'


def _expected(s: slo.Slo, alertname: str, profile: Profile, per_minute: int, end: int) -> list[Expect]:
    out = []
    for w in slo.BURN_WINDOWS:
        if slo.alert_name(s, w) != alertname:
            continue
        r = rule(alertname, long_window=w.long)
        long_ratio = window_ratio(profile, per_minute, end, minutes(w.long))
        short_ratio = window_ratio(profile, per_minute, end, minutes(w.short))
        if long_ratio > _threshold(s, w) and short_ratio > _threshold(s, w):
            out.append(Expect(r, {"job": "bot", "slo": s.name}, long_ratio))
    return out


def _pair_cases(s: slo.Slo, w: slo.BurnWindow, data: SloSeries) -> list[Case]:
    alertname = slo.alert_name(s, w)
    threshold = _threshold(s, w)
    above = threshold + 1 / data.per_minute
    short, long_ = minutes(w.short), minutes(w.long)
    steady_end = short + 10
    burst = min(long_, short + 10)
    recovered: Profile = [(burst, 0.5), (short + 5, 0.0)]
    cases = []
    for label, profile, end in (
        (
            f"error ratio exactly {num_pct(threshold)} does not fire the {w.long}/{w.short} pair",
            [(steady_end, threshold)],
            steady_end,
        ),
        (f"error ratio {num_pct(above)} fires the {w.long}/{w.short} pair", [(steady_end, above)], steady_end),
        (
            f"a burst that ended {w.short} + 5m ago does not fire the {w.long}/{w.short} pair",
            recovered,
            burst + short + 5,
        ),
    ):
        cases.append(
            Case(
                f"{alertname}: {label}",
                alertname,
                data.series(profile),
                f"{end}m",
                _expected(s, alertname, profile, data.per_minute, end),
                interval="1m",
            )
        )
    return cases


def num_pct(ratio: float) -> str:
    return f"{ratio * 100:.4g}%"


def cases() -> dict[str, tuple[str, list[Case]]]:
    out = {}
    for s in slo.SLOS:
        data = SloSeries(s, 10_000 if s.name == AVAILABILITY.name else 1000)
        # Rules evaluated every 5 minutes (all eval times are multiples of it): 6 hours of history stay cheap.
        out[f"slo-{s.name}"] = ("5m", [c for w in slo.BURN_WINDOWS for c in _pair_cases(s, w, data)])
    return out
