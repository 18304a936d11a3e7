"""One verdict per SLA: measured value, threshold, margin, pass / fail / no data.

Thresholds come from harness/core/contract.py as overridden by the run's manifest; nothing is restated
here. The margin is signed so that positive always means "inside the SLA" (headroom) and negative
"breached". Latency, availability and loss are measured through the rig (emulator, load generator,
host): one that failed is judged again on the windows where the rig held (`rig_bound` when it passes
there). The bot's CPU and memory are its own: a busy rig can only lower them, so they are judged as
measured.
"""

from __future__ import annotations

import math

from hdrh.histogram import HdrHistogram

from harness.analysis.report.load import LoadResult, latency_summary
from harness.analysis.report.model import (
    BotSideLatency,
    LedgerFigures,
    Op,
    RefusalRow,
    SlaStatus,
    SlaVerdict,
    Unit,
)
from harness.analysis.report.resources import MB, ResourceResult
from harness.analysis.report.summary import fmt_budget
from harness.core.contract import (
    AVAILABILITY,
    FEW_REPLIES_BREACH_CONFIDENCE,
    LATENCY_QUANTILE,
    MIN_REPLIES_FOR_QUANTILE,
    Thresholds,
)


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


def judge_p99(vid: str, name: str, hist: HdrHistogram, limit: float, source: str, detail: str) -> SlaVerdict:
    """A P99 SLA. Over fewer than MIN_REPLIES_FOR_QUANTILE replies the sample's P99 is its slowest reply,
    so one late reply would decide: such a P99 is shown, not judged (`too_few`), unless the replies over
    the limit are too many for a P99 under it even from so few."""
    summary = latency_summary(hist)
    verdict = judge(vid, name, summary.p99, limit, "s", "<", source, detail)
    if summary.p99 is None or summary.count >= MIN_REPLIES_FOR_QUANTILE:
        return verdict
    over = sum(
        item.count_at_value_iterated_to
        for item in hist.get_recorded_iterator()
        if item.value_iterated_to / 1_000_000 >= limit
    )
    if _share_exceeded(summary.count, over):
        return verdict.model_copy(
            update={"detail": f"{detail}; {over} of them over the limit: a breach even from so few"}
        )
    return verdict.model_copy(
        update={
            "status": "too_few",
            "margin": None,
            "detail": f"{detail}; too few to judge a P99 (at least {MIN_REPLIES_FOR_QUANTILE}: "
            "below that it is the slowest reply)",
        }
    )


def _share_exceeded(count: int, over: int) -> bool:
    """`over` of `count` replies over the limit are beyond chance for a share of at most 1 - q."""
    p = 1 - LATENCY_QUANTILE
    below = sum(math.comb(count, i) * p**i * (1 - p) ** (count - i) for i in range(over))
    return 1 - below < 1 - FEW_REPLIES_BREACH_CONFIDENCE


RIG_SENSITIVE = ("p99_", "availability", "message_loss")  # SLA ids (prefixes) a busy rig can push over


def _latency(load: LoadResult, thresholds: Thresholds, bot_side: BotSideLatency | None) -> list[SlaVerdict]:
    p99_limit = thresholds.p99_latency_seconds
    overall = latency_summary(load.reply)
    uses = "user side: intended send to final reply at the simulated user"
    if bot_side is not None and bot_side.p99 is not None:
        uses += f"; the bot's own processing P99 was {bot_side.p99 * 1000:.0f} ms (not judged)"
    out = [
        judge_p99(
            "p99_overall",
            "P99 reply latency, whole run",
            load.reply,
            p99_limit,
            "windows.jsonl reply_hist (merged)",
            f"{overall.count} replies measured ({uses})",
        )
    ]
    for peak in load.peaks:
        out.append(
            judge_p99(
                f"p99_peak_day{peak.segment.day}",
                f"P99 reply latency, peak {peak.label}",
                peak.hist,
                p99_limit,
                "windows.jsonl reply_hist in the peak window",
                f"{peak.hist.get_total_count()} replies measured",
            )
        )
    return out


def _availability(load: LoadResult, lost: int | None, ledger_sent: int | None, thresholds: Thresholds) -> SlaVerdict:
    """The user side's availability, never above what the ledger allows: a message the ledger counts
    as lost was not replied to in time, whether or not the load generator lived to see it."""
    totals = load.totals
    availability = totals.availability()
    unanswered = totals.sent - totals.replies_ok
    detail = f"{unanswered} of {totals.sent} messages sent got no final reply within the reply timeout"
    source = f"windows.jsonl {AVAILABILITY.user_good} / {AVAILABILITY.user_total}"
    if lost is not None and ledger_sent:
        allowed = 1 - lost / ledger_sent
        if availability is None or allowed < availability:
            availability = allowed
            source += ", capped by the ledger's (sent - lost) / sent"
            detail = (
                f"the ledger counts {lost} of {ledger_sent} messages lost, more than the load generator saw "
                f"({unanswered} of {totals.sent})"
            )
    budget = error_budget_used(availability, thresholds.availability)
    if budget is not None:
        detail += f"; {fmt_budget(budget)}"
    return judge(
        AVAILABILITY.name,
        f"Availability ({AVAILABILITY.definition})",
        availability,
        thresholds.availability,
        "ratio",
        ">=",
        source,
        detail,
    )


def _resources(resources: ResourceResult, thresholds: Thresholds) -> list[SlaVerdict]:
    limit = resources.memory_limit_bytes
    limit_text = f"{limit / MB:,.0f} MB, the {resources.memory_limit_source}'s" if limit else "unknown"
    target_memory = resources.target_memory.peak if resources.bot_seen and limit else None
    return [
        judge(
            "cpu",
            "CPU of the bot's processes, highest 1-minute mean (share of one core)",
            resources.cpu.peak,
            thresholds.cpu_target,
            "ratio",
            "<",
            f"samples.jsonl procs.bot.cpu, {resources.cpu_source}",
            "host CPU is shown apart (resources.host_cpu)",
        ),
        judge(
            "memory",
            "Memory: the bot's resident set, highest 1-minute mean, share of its limit",
            target_memory,
            thresholds.memory_target,
            "ratio",
            "<",
            "samples.jsonl procs.bot.rss / memory limit",
            f"limit {limit_text}" + ("" if limit else "; set [sla] memory_limit_mb"),
        ),
    ]


def sla_verdicts(
    load: LoadResult,
    resources: ResourceResult,
    messages: LedgerFigures,
    thresholds: Thresholds,
    *,
    target_kind: str | None = None,
    bot_side: BotSideLatency | None = None,
    refusals: list[RefusalRow] | None = None,
) -> list[SlaVerdict]:
    """Every SLA of the run; a target that runs elsewhere (kind "url") has no resource SLAs."""
    ledger_sent = (messages.messages or {}).get("sent")
    out = _latency(load, thresholds, bot_side)
    out.append(_availability(load, messages.lost, ledger_sent, thresholds))
    if target_kind != "url":
        out += _resources(resources, thresholds)
    lost = messages.lost
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
    return [_with_rig(s, load) for s in out]


def _judged_where_rig_held(sla: SlaVerdict, load: LoadResult) -> SlaVerdict:
    """The SLA judged again over the windows where the rig held."""
    healthy = load.healthy
    if sla.id.startswith("p99_"):
        peak = next((p for p in load.peaks if f"p99_peak_day{p.segment.day}" == sla.id), None)
        hist = healthy.hist if sla.id == "p99_overall" else peak.healthy.hist if peak else None
        if hist is not None:
            return judge_p99(sla.id, sla.name, hist, sla.threshold, sla.source, "")
        value = None
    elif sla.id == AVAILABILITY.name:
        value = healthy.totals.availability()
    else:
        value = float(healthy.totals.timeouts)  # message_loss: the user side's no-reply count there
    return judge(sla.id, sla.name, value, sla.threshold, sla.unit, sla.op, sla.source)


def _with_rig(sla: SlaVerdict, load: LoadResult) -> SlaVerdict:
    """A rig-sensitive SLA in a run whose rig did not hold everywhere is judged again on the windows
    where it held (`healthy_value`, also what a baseline comparison compares). One that failed and
    fails there too is a FAIL; one that passes there (or has no data there) is `rig_bound`: the rig,
    not the bot, is what was measured."""
    sensitive = sla.id.startswith(RIG_SENSITIVE)
    health = load.health
    if not sensitive or health is None or not health.unhealthy:
        return sla.model_copy(update={"rig_sensitive": sensitive})
    again = _judged_where_rig_held(sla, load)
    return sla.model_copy(
        update={
            "rig_sensitive": True,
            "healthy_value": again.value,
            "healthy_status": again.status,
            "rig_bound": sla.status == "fail" and again.status != "fail",
        }
    )


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
