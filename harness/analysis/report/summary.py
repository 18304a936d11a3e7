"""The few sentences at the top of every report format, and value formatting shared by all of them."""

from __future__ import annotations

from typing import Any

from harness.analysis.report.conditions import GENERATOR_BOUND_TEXT, not_evaluated_text
from harness.core.simclock import format_sim

OP_TEXT = {"<": "<", "<=": "≤", ">=": "≥"}


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


def fmt_margin(sla: dict[str, Any]) -> str:
    if sla["margin"] is None:
        return "n/a"
    sign = "+" if sla["margin"] >= 0 else "-"
    if sla["unit"] == "ratio":  # percentage points: a margin of 0.0004 must not read as 0.0 %
        return f"{sign}{abs(sla['margin']) * 100:.3g} pp"
    return sign + fmt_value(abs(sla["margin"]), sla["unit"])


def sla_line(sla: dict[str, Any]) -> str:
    return (
        f"{sla['name']}: {fmt_value(sla['value'], sla['unit'])} "
        f"(SLA {OP_TEXT[sla['op']]} {fmt_value(sla['threshold'], sla['unit'])})"
    )


def sentences(data: dict[str, Any]) -> list[str]:
    """A manager's 30-second read: the verdict, what failed, loss, alerts, what is missing."""
    slas = data["slas"]
    failed = [s for s in slas if s["status"] == "fail"]
    load = data["load"]
    span = ""
    if load["sim_start"] is not None and load["sim_end"] is not None:
        span = f" over simulated {format_sim(load['sim_start'])} to {format_sim(load['sim_end'], end=True)}"
    out = []
    if data["verdict"] == "PASS":
        out.append(f"PASS: all {len(slas)} SLAs met{span}, {load['sent']:,} messages sent.")
    elif data["verdict"] == "FAIL":
        out.append(f"FAIL: {len(failed)} of {len(slas)} SLAs breached{span}, {load['sent']:,} messages sent.")
    else:
        out.append(f"INCOMPLETE: the run cannot be fully judged{span}; {load['sent']:,} messages sent.")
    conditions = data["conditions"]
    if conditions["generator_bound"]:
        out.append(GENERATOR_BOUND_TEXT)
    out += [f"Breached - {sla_line(s)}." for s in failed]
    budget = load.get("error_budget_used")
    if budget is not None:
        out.append(f"Availability {fmt_value(load['availability'], 'ratio')}: {budget:.0%} of the error budget used.")
    lost = data["messages"].get("lost")
    if lost:
        stages = ", ".join(f"{k} {v}" for k, v in (data["messages"].get("lost_by_stage") or {}).items() if v)
        out.append(f"{lost:,} messages lost ({stages}); see the diagnosis.")
    if data.get("findings"):
        titles = "; ".join(f["title"] for f in data["findings"][:4])
        out.append(f"Diagnosis: {len(data['findings'])} finding(s) - {titles}.")
    if data["alerts"]:
        names = sorted({a["alertname"] for a in data["alerts"]})
        out.append(f"{len(data['alerts'])} alert(s) fired: {', '.join(names)}.")
    elif conditions["alerts_evaluated"] is False:
        out.append(not_evaluated_text(conditions))
    else:
        out.append("No alert fired.")
    reasons = data["incomplete_reasons"]
    if reasons:
        more = f"; and {len(reasons) - 5} more (see the end of the report)" if len(reasons) > 5 else ""
        out.append("Missing: " + "; ".join(reasons[:5]) + more + ".")
    return out
