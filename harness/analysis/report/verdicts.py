"""One verdict per SLA: measured value, threshold, margin, pass / fail / no data.

Thresholds come from harness/core/contract.py as overridden by the run's manifest; nothing is restated
here. The margin is signed so that positive always means "inside the SLA" (headroom) and negative
"breached".
"""

from __future__ import annotations

from harness.analysis.report.load import LoadResult, latency_summary
from harness.analysis.report.model import Op, RefusalRow, SlaStatus, SlaVerdict, Unit
from harness.analysis.report.resources import ResourceResult
from harness.core.contract import AVAILABILITY, Thresholds


def judge(
    vid: str, name: str, value: float | None, threshold: float, unit: Unit, op: Op, source: str, detail: str = ""
) -> SlaVerdict:
    status: SlaStatus = "no_data"
    margin = None
    if value is None:
        detail = detail or "no data"
    else:
        ok = {"<": value < threshold, "<=": value <= threshold, ">=": value >= threshold}[op]
        status, margin = ("pass" if ok else "fail"), (value - threshold if op == ">=" else threshold - value)
    return SlaVerdict(
        id=vid,
        name=name,
        value=value,
        threshold=threshold,
        unit=unit,
        op=op,
        status=status,
        margin=margin,
        source=source,
        detail=detail,
    )


def sla_verdicts(
    load: LoadResult,
    resources: ResourceResult,
    lost: int | None,
    thresholds: Thresholds,
    refusals: list[RefusalRow] | None = None,
) -> list[SlaVerdict]:
    p99_limit = thresholds.p99_latency_seconds
    overall = latency_summary(load.reply)
    out = [
        judge(
            "p99_overall",
            "P99 reply latency, whole run",
            overall.p99,
            p99_limit,
            "s",
            "<",
            "windows.jsonl reply_hist (merged)",
            f"{overall.count} replies measured",
        )
    ]
    for peak in load.peaks:
        summary = latency_summary(peak.hist)
        out.append(
            judge(
                f"p99_peak_day{peak.segment.day}",
                f"P99 reply latency, peak {peak.label}",
                summary.p99,
                p99_limit,
                "s",
                "<",
                "windows.jsonl reply_hist in the peak window",
                f"{summary.count} replies measured",
            )
        )
    avail_target = thresholds.availability
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
            thresholds.cpu_target,
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
            thresholds.memory_target,
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
    out.append(refused_calls_verdict(refusals, thresholds))
    return out


def refused_calls_verdict(refusals: list[RefusalRow] | None, thresholds: Thresholds) -> SlaVerdict:
    """Calls the platform refused the bot: a refusal the scenario's own faults caused, or one on the
    harness's side, is not the bot's and is not counted."""
    by_cause = {c: sum(r.count for r in refusals or [] if r.cause == c) for c in ("bot", "injected", "harness")}
    detail = (
        f"not counted: {by_cause['injected']} injected by the scenario's faults, "
        f"{by_cause['harness']} on the harness's side (user socket, admin API); see Open-API refusals"
        if refusals is not None
        else "the ledger does not count refused calls (an emulator older than that count?)"
    )
    return judge(
        "refused_calls",
        "Open-API calls refused",
        None if refusals is None else float(by_cause["bot"]),
        thresholds.refused_calls,
        "count",
        "<=",
        "ledger refusals (cause bot)",
        detail,
    )


def error_budget_used(availability: float | None, target: float) -> float | None:
    """Share of the error budget (1 - target) the run consumed; 1.0 means exactly used up."""
    if availability is None or target >= 1:
        return None
    return (1 - availability) / (1 - target)
