"""The few sentences at the top of every report format, and value formatting shared by all of them.

Everything here renders the report model (harness.analysis.report.model); nothing here decides.
"""

from __future__ import annotations

from harness.analysis.report.model import Conditions, ReportData, SlaVerdict, Verdict
from harness.core.simclock import format_sim

OP_TEXT = {"<": "<", "<=": "≤", ">=": "≥"}

GENERATOR_BOUND_TEXT = (
    "Generator-bound: a load generator worker ran out of CPU, so latency and throughput "
    "may say more about the load generator than about the bot; add workers or machines "
    "(docs/scaling.md) and run again."
)


def not_evaluated_text(conditions: Conditions) -> str:
    """'Alerts were not evaluated: ...' with the reason and how to install Prometheus."""
    prometheus = conditions.prometheus
    loaded_nothing = prometheus is not None and prometheus.available and not prometheus.rules_loaded
    text = "Alerts were not evaluated: " + (
        "Prometheus did not load the shipped rules" if loaded_nothing else "Prometheus was not available"
    )
    if prometheus and prometheus.reason:
        text += f" ({prometheus.reason})"
    if prometheus and prometheus.hint:
        text += f"; {prometheus.hint}"
    return text + "."


def bucket_label(seconds: float) -> str:
    """'simulated hour', '10 simulated minutes', '30 simulated seconds'."""
    if seconds >= 3600:
        n, unit = seconds / 3600, "hour"
    elif seconds >= 60:
        n, unit = seconds / 60, "minute"
    else:
        n, unit = seconds, "second"
    return f"simulated {unit}" if n == 1 else f"{n:g} simulated {unit}s"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if unit == "ratio":
        return f"{value:.3%}" if value > 0.99 else f"{value:.1%}"
    return f"{value:,.0f}"


def fmt_margin(sla: SlaVerdict) -> str:
    if sla.margin is None:
        return "n/a"
    sign = "+" if sla.margin >= 0 else "-"
    if sla.unit == "ratio":  # percentage points: a margin of 0.0004 must not read as 0.0 %
        return f"{sign}{abs(sla.margin) * 100:.3g} pp"
    return sign + fmt_value(abs(sla.margin), sla.unit)


def sla_line(sla: SlaVerdict) -> str:
    return f"{sla.name}: {fmt_value(sla.value, sla.unit)} (SLA {OP_TEXT[sla.op]} {fmt_value(sla.threshold, sla.unit)})"


def _verdict_sentence(report: ReportData) -> str:
    judgement, load = report.judgement, report.load
    span = ""
    if load.sim_start is not None and load.sim_end is not None:
        span = f" over simulated {format_sim(load.sim_start)} to {format_sim(load.sim_end, end=True)}"
    sent, total = f"{load.sent:,} messages sent", len(report.slas)
    if judgement.verdict is Verdict.INCOMPLETE:
        return f"INCOMPLETE: the run cannot be fully judged{span}; {sent}."
    if judgement.verdict is Verdict.PASS:
        return f"PASS: all {total} SLAs met{span}, {sent}."
    if judgement.breached:
        return f"FAIL: {len(judgement.breached)} of {total} SLAs breached{span}, {sent}."
    return f"FAIL (regression): all {total} SLAs met{span}, {sent}."


def sentences(report: ReportData) -> list[str]:
    """A manager's 30-second read: the verdict and why, what failed, loss, alerts, what is missing."""
    out = [_verdict_sentence(report)]
    comparison = report.baseline
    if comparison and comparison.regressed:
        out.append(
            f"Regressed against baseline {comparison.baseline_name}: "
            f"{len(comparison.regressed)} SLA(s) worse beyond the tolerance."
        )
    conditions = report.conditions
    if conditions.generator_bound:
        out.append(GENERATOR_BOUND_TEXT)
    out += [f"Breached - {sla_line(s)}." for s in report.judgement.breached]
    budget = report.load.error_budget_used
    if budget is not None:
        out.append(
            f"Availability {fmt_value(report.load.availability, 'ratio')}: {budget:.0%} of the error budget used."
        )
    ledger = report.messages
    if ledger.lost:
        stages = ", ".join(f"{k} {v}" for k, v in (ledger.lost_by_stage or {}).items() if v)
        out.append(f"{ledger.lost:,} messages lost ({stages}); see the diagnosis.")
    refused = [r for r in report.refusals or [] if r.cause == "bot"]
    if refused:
        top = "; ".join(
            f"{r.api} {r.method} {r.route} {r.status} {r.code} x{r.count:,}".replace("  ", " ") for r in refused[:3]
        )
        more = f"; and {len(refused) - 3} more kinds" if len(refused) > 3 else ""
        out.append(
            f"The platform refused {sum(r.count for r in refused):,} of the bot's calls ({top}{more}); see Open-API refusals."
        )
    if report.findings:
        titles = "; ".join(f.title for f in report.findings[:4])
        out.append(f"Diagnosis: {len(report.findings)} finding(s) - {titles}.")
    if report.alerts:
        names = sorted({a.alertname for a in report.alerts})
        out.append(f"{len(report.alerts)} alert(s) fired: {', '.join(names)}.")
    elif conditions.alerts_evaluated is False:
        out.append(not_evaluated_text(conditions))
    else:
        out.append("No alert fired.")
    reasons = report.incomplete_reasons
    if reasons:
        more = f"; and {len(reasons) - 5} more (see the end of the report)" if len(reasons) > 5 else ""
        out.append("Missing: " + "; ".join(reasons[:5]) + more + ".")
    return out
