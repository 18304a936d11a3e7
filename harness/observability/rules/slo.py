"""SLOs as ratio SLIs with multi-window multi-burn-rate alerts (Google SRE workbook, 30-day budget).

Two SLOs: availability (the bot side of contract.AVAILABILITY: share of the messages the bot processed
that it replied to, so that the rules watch a production bot without the load generator as well) and
latency (share of replied messages processed within the P99 threshold; objective = the quantile).
Each gets error-ratio recording rules per window, and two alerts: a page on a fast burn (1h and 5m
above 14.4x, or 6h and 30m above 6x) and a ticket on a slow burn (1d and 2h above 3x, or 3d and 6h
above 1x).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.contract import AVAILABILITY, LATENCY_BUCKETS, LATENCY_QUANTILE, THRESHOLDS
from harness.observability.rules.model import SEVERITY_PAGE, SEVERITY_TICKET, Alert, Group, Record, le_label, num


@dataclass(frozen=True)
class BurnWindow:
    long: str
    short: str
    factor: float
    severity: str


BURN_WINDOWS = (
    BurnWindow("1h", "5m", 14.4, SEVERITY_PAGE),
    BurnWindow("6h", "30m", 6.0, SEVERITY_PAGE),
    BurnWindow("1d", "2h", 3.0, SEVERITY_TICKET),
    BurnWindow("3d", "6h", 1.0, SEVERITY_TICKET),
)
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


@dataclass(frozen=True)
class Slo:
    name: str  # the `slo` label
    alert_prefix: str
    objective: float
    what: str  # what a good event is, for descriptions

    @property
    def budget(self) -> float:
        return float(num(1 - self.objective))

    def error_ratio(self, window: str) -> str:
        raise NotImplementedError

    def burn_threshold(self, w: BurnWindow) -> str:
        return f"({num(w.factor)} * {num(self.budget)})"


# Ratios of increase() rather than rate(): the same ratio, but whole event counts divide exactly, so a
# ratio exactly at a threshold compares as equal instead of a rounding error above it.


def availability_counts(window: str, matchers: tuple[str, ...] = (), by: str = "job") -> tuple[str, str]:
    """PromQL (bad, total) of the bot side of contract.AVAILABILITY over `window`: processed messages
    whose outcome is not the good one, and all processed messages, summed by `by` ("": over all).
    The rules and dashboards share it."""
    metric, good = AVAILABILITY.bot_metric, AVAILABILITY.bot_good_outcome
    total_sel = f"{{{', '.join(matchers)}}}" if matchers else ""
    bad_sel = "{" + ", ".join((*matchers, f'outcome!="{good}"')) + "}"
    agg = f"sum by ({by}) " if by else "sum"
    return f"{agg}(increase({metric}{bad_sel}[{window}]))", f"{agg}(increase({metric}{total_sel}[{window}]))"


class Availability(Slo):
    def error_ratio(self, window: str) -> str:
        failed, processed = availability_counts(window)
        return f"({failed} or {processed} * 0) / {processed}"


class Latency(Slo):
    def error_ratio(self, window: str) -> str:
        metric = "chatbot_message_processing_seconds"
        if THRESHOLDS.p99_latency_seconds not in LATENCY_BUCKETS:
            raise ValueError("contract: p99_latency_seconds must be one of LATENCY_BUCKETS")
        total = f"sum by (job) (increase({metric}_count[{window}]))"
        good = f'sum by (job) (increase({metric}_bucket{{le="{le_label(THRESHOLDS.p99_latency_seconds)}"}}[{window}]))'
        return f"({total} - {good}) / {total}"


SLOS = (
    Availability(AVAILABILITY.name, "Availability", AVAILABILITY.objective, AVAILABILITY.bot_good),
    Latency(
        "latency",
        "Latency",
        LATENCY_QUANTILE,
        f"replied messages processed within {num(THRESHOLDS.p99_latency_seconds)} s",
    ),
)


def ratio_record(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


def alert_name(slo: Slo, w: BurnWindow) -> str:
    return f"{slo.alert_prefix}BudgetBurn{'Fast' if w.severity == SEVERITY_PAGE else 'Slow'}"


def _alerts(slo: Slo) -> list[Alert]:
    alerts = []
    for w in BURN_WINDOWS:
        name = alert_name(slo, w)
        sel = f'{{slo="{slo.name}"}}'
        threshold = slo.burn_threshold(w)
        expr = f"{ratio_record(w.long)}{sel} > {threshold}\nand {ratio_record(w.short)}{sel} > {threshold}"
        alerts.append(
            Alert(
                name,
                expr,
                w.severity,
                f"{slo.name.capitalize()} SLO error budget burning {num(w.factor)}x too fast ({{{{ $labels.job }}}})",
                f"Error ratio {{{{ $value | humanizePercentage }}}} over {w.long} "
                f"(and above the threshold over {w.short}), "
                f"more than {num(w.factor)}x the budget of {num(slo.budget * 100)}% (objective: "
                f"{num(slo.objective * 100)}% of {slo.what}).",
                labels={"slo": slo.name, "long_window": w.long, "short_window": w.short},
            )
        )
    return alerts


def slo_group(slo: Slo) -> Group:
    records: list[Record] = [Record(ratio_record(w), slo.error_ratio(w), {"slo": slo.name}) for w in WINDOWS]
    records.append(Record("slo:objective:ratio", f"vector({num(slo.objective)})", {"slo": slo.name}))
    return Group(f"slo-{slo.name}", f"chatbot-slo-{slo.name}", (*records, *_alerts(slo)))
