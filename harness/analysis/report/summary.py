"""The few sentences at the top of every report format, and value formatting shared by all of them.

Everything here renders the report model (harness.analysis.report.model); nothing here decides.
"""

from __future__ import annotations

from harness.analysis.report.model import (
    ComparisonRow,
    Conditions,
    ProcessFault,
    ReportData,
    RigCheck,
    SlaVerdict,
    Verdict,
)
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


def alert_gaps_text(conditions: Conditions) -> str | None:
    """'Alerts were not evaluated from t1 to t2 ...' for the stretches Prometheus was down mid-run."""
    gaps = conditions.prometheus.gaps if conditions.prometheus else []
    if not gaps:
        return None
    spans = []
    for gap in gaps:
        sim = "" if gap.from_sim is None else f"simulated {format_sim(gap.from_sim)}"
        if gap.to_wall_s is None:
            span = f"from {gap.from_wall_s:.0f} s after the load started to the end of the run"
        else:
            span = f"from {gap.from_wall_s:.0f} s to {gap.to_wall_s:.0f} s after the load started"
            sim += "" if gap.to_sim is None or not sim else f" - {format_sim(gap.to_sim)}"
        spans.append(f"{span}{f' ({sim})' if sim else ''}: {gap.reason}")
    return "Alerts were not evaluated " + "; and ".join(spans) + "."


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


def failover_line(fault: ProcessFault) -> str:
    """One process fault's incident in a sentence: what it caught and what became of it."""
    assert fault.in_flight is not None
    fates = fault.in_flight.fates
    unanswered = fates.late + fates.lost + fates.pending
    return (
        f"Failover ({fault.step}, {fault.process} of {fault.component}): {fault.in_flight.count} message(s) in flight, "
        f"{fates.redelivered_replied} redelivered and answered, {unanswered} not answered in time; next reply after "
        f"{fmt_value(fault.to_next_reply_s, 's')}, availability over the incident "
        f"{fmt_value(fault.availability, 'ratio')}."
    )


def sla_line(sla: SlaVerdict) -> str:
    return f"{sla.name}: {fmt_value(sla.value, sla.unit)} (SLA {OP_TEXT[sla.op]} {fmt_value(sla.threshold, sla.unit)})"


def fmt_delta(row: ComparisonRow) -> str:
    """A change in the SLA's own unit ('+35 ms', '-0.020 pp', '+4.1 points'), with the relative change
    where it reads well; never '-0 %' nor '100 % better'."""
    if row.delta is None:
        return "n/a"
    if row.unit == "s":
        number, digits, unit = row.delta * 1000, 0, " ms"
    elif row.unit == "ratio" and row.id == "availability":
        number, digits, unit = row.delta * 100, 3, " pp"
    elif row.unit == "ratio":
        number, digits, unit = row.delta * 100, 1, " points"
    else:
        number, digits, unit = row.delta, 0, ""
    if round(number, digits) == 0:
        return "no change"
    text = f"{number:+,.{digits}f}{unit}"
    relative = row.relative_worsening
    if relative is not None and row.id != "availability" and 0.005 <= abs(relative) < 10:
        text += f" ({abs(relative):.0%} {'worse' if relative > 0 else 'better'})"
    return text


def _rows_text(rows: list[ComparisonRow], shown: int = 3) -> str:
    text = ", ".join(f"{r.name} {fmt_delta(r)}" for r in rows[:shown])
    return text + (f" and {len(rows) - shown} more" if len(rows) > shown else "")


def fmt_budget(budget: float) -> str:
    """A share of the error budget that stays readable however far over: '35 %', '340 %', '851 times'."""
    return (
        f"{budget:.0%} of the error budget used" if budget < 10 else f"the error budget used {budget:,.0f} times over"
    )


def rig_check_line(check: RigCheck) -> str:
    """'Host CPU, all cores: limit 90 %, crossed for 47 s (highest ...); most CPU: ...; do: ...'."""
    limit = f"{check.limit:g} s" if check.unit == "s" else f"{check.limit:.0%}"
    text = f"{check.name}: limit {limit}, crossed"
    if check.seconds_crossed:
        text += f" for {check.seconds_crossed:.0f} s of wall time"
    text += f" ({check.detail})"
    if check.consumers:
        text += "; CPU meanwhile: " + ", ".join(f"{c.process} {c.cpu:.2f} cores" for c in check.consumers[:4])
    return text + f"; to change: {check.advice}"


def inconclusive_text(report: ReportData) -> str:
    """Why the verdict is INCONCLUSIVE: the SLAs that failed only where the rig broke its limits, and which."""
    judgement = report.judgement
    failed = [s.name for s in judgement.rig_bound] + [
        f"{r.name} (against the baseline)" for r in judgement.rig_regressed
    ]
    crossed = [c.name for c in report.rig.crossed if c.decides_verdict] if report.rig else []
    return (
        f"INCONCLUSIVE: {'; '.join(failed)} failed only where the rig broke its own limits "
        f"({'; '.join(crossed) or 'see rig health'}): this run says nothing about the bot there; "
        "see the report's rig health for which process and what to change."
    )


def _verdict_sentence(report: ReportData) -> str:
    judgement, load = report.judgement, report.load
    span = ""
    if load.sim_start is not None and load.sim_end is not None:
        span = f" over simulated {format_sim(load.sim_start)} to {format_sim(load.sim_end, end=True)}"
    total = sum(s.status != "too_few" for s in report.slas)
    unjudged = len(report.slas) - total
    sent = f"{load.sent:,} messages sent" + (f"; {unjudged} P99(s) not judged: too few replies" if unjudged else "")
    if judgement.verdict is Verdict.INCOMPLETE:
        return f"INCOMPLETE: the run cannot be fully judged{span}; {sent}."
    if judgement.verdict is Verdict.INCONCLUSIVE:
        return inconclusive_text(report)
    if judgement.verdict is Verdict.PASS:
        return f"PASS: all {total} SLAs met{span}, {sent}."
    if judgement.breached:
        return f"FAIL: {len(judgement.breached)} of {total} SLAs breached{span}, {sent}."
    if judgement.soak_failed:
        return f"FAIL (soak): all {total} SLAs met{span}, {sent}, but a slope is over its soak limit."
    return f"FAIL (regression): all {total} SLAs met{span}, {sent}."


def sentences(report: ReportData) -> list[str]:
    """A manager's 30-second read: the verdict and why, what failed, loss, alerts, what is missing."""
    out = [_verdict_sentence(report)]
    comparison = report.baseline
    if comparison and comparison.mismatches:
        out.append(
            f"WARNING: the baseline {comparison.baseline_name} ran something else ({'; '.join(comparison.mismatches)}): "
            "its differences say little about the bot."
        )
    if comparison and comparison.regressed:
        out.append(
            f"Regressed against baseline {comparison.baseline_name}: {len(comparison.regressed)} SLA(s) worse "
            f"beyond the noise: {_rows_text(comparison.regressed)}."
        )
    if comparison and comparison.rig_regressed:
        out.append(
            f"Worse than baseline {comparison.baseline_name} in a run whose rig did not hold (no verdict on the "
            f"bot): {_rows_text(comparison.rig_regressed)}."
        )
    conditions = report.conditions
    if conditions.generator_bound:
        out.append(GENERATOR_BOUND_TEXT)
    out += [f"Breached - {sla_line(s)}." for s in report.judgement.breached]
    out += [
        f"Failed only where the rig did not hold - {sla_line(s)}; where it held: "
        f"{fmt_value(s.healthy_value, s.unit) if s.healthy_value is not None else 'no data'}."
        for s in report.judgement.rig_bound
    ]
    out += [
        f"Soak - {c.component} {c.measure} {c.value:+.2f}, limit {c.limit:g} (see Growth)."
        for c in report.judgement.soak_failed
    ]
    rig = report.rig
    if rig is not None and not rig.held:
        out.append(
            f"Rig health: {len(rig.crossed)} limit(s) crossed, touching {rig.unhealthy_windows} of {rig.windows} "
            f"load windows - {'; '.join(c.name for c in rig.crossed)} (see rig health)."
        )
    budget = report.load.error_budget_used
    if budget is not None:
        out.append(f"Availability {fmt_value(report.load.availability, 'ratio')}: {fmt_budget(budget)}.")
    if report.accounting is not None:
        out += [f"Not measured: {note}." for note in report.accounting.notes]
    ledger = report.messages
    if ledger.lost:
        stages = ", ".join(f"{k} {v}" for k, v in (ledger.lost_by_stage or {}).items() if v)
        out.append(f"{ledger.lost:,} messages lost ({stages}); see the diagnosis.")
    out += [failover_line(f) for f in report.failover or [] if f.in_flight is not None]
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
    gaps = alert_gaps_text(conditions)
    if gaps and conditions.alerts_evaluated is not False:
        out.append(gaps)
    reasons = report.incomplete_reasons
    if reasons:
        more = f"; and {len(reasons) - 5} more (see the end of the report)" if len(reasons) > 5 else ""
        out.append("Missing: " + "; ".join(reasons[:5]) + more + ".")
    return out
