"""One verdict per SLA: measured value, threshold, margin, pass / fail / no data.

Thresholds come from harness/contract.py as overridden by the run's manifest; nothing is restated here.
The margin is signed so that positive always means "inside the SLA" (headroom) and negative "breached".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from harness.analysis.report.load import LoadResult, latency_summary
from harness.analysis.report.resources import ResourceResult
from harness.core.contract import AVAILABILITY

Status = Literal["pass", "fail", "no_data"]


@dataclass(frozen=True)
class Verdict:
    id: str
    name: str
    value: float | None
    threshold: float
    unit: str  # "s", "ratio", "count"
    op: str  # "<" or ">=" or "<=": the value must satisfy `value op threshold`
    status: Status
    margin: float | None
    source: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(
    vid: str, name: str, value: float | None, threshold: float, unit: str, op: str, source: str, detail: str = ""
) -> Verdict:
    if value is None:
        return Verdict(vid, name, None, threshold, unit, op, "no_data", None, source, detail or "no data")
    ok = {"<": value < threshold, "<=": value <= threshold, ">=": value >= threshold}[op]
    margin = value - threshold if op == ">=" else threshold - value
    return Verdict(vid, name, value, threshold, unit, op, "pass" if ok else "fail", margin, source, detail)


def sla_verdicts(
    load: LoadResult, resources: ResourceResult, lost: int | None, thresholds: dict[str, float]
) -> list[Verdict]:
    p99_limit = thresholds["p99_latency_seconds"]
    overall = latency_summary(load.reply)
    out = [
        judge(
            "p99_overall",
            "P99 reply latency, whole run",
            overall["p99"],
            p99_limit,
            "s",
            "<",
            "windows.jsonl reply_hist (merged)",
            f"{overall['count']} replies measured",
        )
    ]
    for peak in load.peaks:
        summary = latency_summary(peak.hist)
        out.append(
            judge(
                f"p99_peak_day{peak.segment.day}",
                f"P99 reply latency, peak {peak.label}",
                summary["p99"],
                p99_limit,
                "s",
                "<",
                "windows.jsonl reply_hist in the peak window",
                f"{summary['count']} replies measured",
            )
        )
    avail_target = thresholds["availability"]
    availability = load.totals.availability()
    budget = error_budget_used(availability, avail_target)
    unanswered = load.totals.sent - load.totals.replies_ok
    out.append(
        judge(
            AVAILABILITY.name,
            f"Availability ({AVAILABILITY.definition})",
            availability,
            avail_target,
            "ratio",
            ">=",
            f"windows.jsonl {AVAILABILITY.user_good} / {AVAILABILITY.user_total}",
            f"{unanswered} of {load.totals.sent} messages sent got no final reply within the reply timeout"
            + (f"; error budget used {budget:.0%}" if budget is not None else ""),
        )
    )
    out.append(
        judge(
            "cpu",
            "CPU, highest 1-minute mean",
            resources.cpu.peak,
            thresholds["cpu_target"],
            "ratio",
            "<",
            f"samples.jsonl, {resources.cpu_source}",
        )
    )
    out.append(
        judge(
            "memory",
            "Memory, highest 1-minute mean",
            resources.memory.peak,
            thresholds["memory_target"],
            "ratio",
            "<",
            "samples.jsonl, host used fraction",
        )
    )
    out.append(
        judge(
            "message_loss",
            "Messages lost",
            None if lost is None else float(lost),
            0,
            "count",
            "<=",
            "ledger (emulator ground truth)",
        )
    )
    return out


def error_budget_used(availability: float | None, target: float) -> float | None:
    """Share of the error budget (1 - target) the run consumed; 1.0 means exactly used up."""
    if availability is None or target >= 1:
        return None
    return (1 - availability) / (1 - target)
