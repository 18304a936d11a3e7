"""Runbook as code: lost messages, by the stage where they stopped (runbooks/message-loss.md), and lost
messages the bot answered after all, too late (runbooks/late-replies.md).

The emulator's ledger is the ground truth of each message's fate, and the finding rests on it and on
the faults the emulator applied. A message answered after the reply timeout is lost for its user, but
its cause is slowness, not failure: it is its own finding (`loss.late_reply`), and a stage's finding
counts only the messages never answered. A bot log in the optional format (docs/run-folder.md) adds
what the bot logged of each stage: queue rejections (the bot asked for redelivery), reconnects (pushes
to a dying connection), replies it never logged (sequence gaps, received but unanswered), and retries
exhausted on the open API. Any other log, or none, adds nothing and is said so, never read as the bot
having done nothing; where the log shows none of these, the finding says so instead of naming a cause
it has no evidence for.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.analysis.diagnose.context import Context
from harness.analysis.diagnose.model import Evidence, Finding
from harness.core.contract import BotEvent

RUNBOOK = "runbooks/message-loss.md"
LATE_RUNBOOK = "runbooks/late-replies.md"
NO_FAILURE_SEEN = (
    "no failure in the bot's log explains it (no reply_failed, handler_crashed or retries_exhausted): "
    "the bot may have dropped these without logging it, or answered them after the ledger forgot them"
)
STOPPED_BUSY = (
    "the run ended while the bot still had {n} messages queued or in hand (drain_incomplete), and its log "
    "shows no failure: they were still being worked on, too slowly to finish before the end (see the "
    "late-reply and slowness findings)"
)

STAGES = {
    "not_pushed": (
        "never pushed to the bot",
        "no stream connection of the bot was subscribed when the message arrived: the bot was "
        "disconnected, reconnecting, or not subscribed to the robot topic",
        "check the reconnect history and the stream client's make-before-break on `disconnect`; keep "
        "a live connection during reconnects; see StreamDisconnected / StreamReconnectStorm",
    ),
    "not_acked": (
        "pushed but never ACKed with 200",
        "the bot did not ACK in time, or answered non-200 (inbound buffer full asks for redelivery), "
        "or the connection died between push and ACK",
        "ACK on receipt before processing, size the inbound buffer for the peak, make reconnects "
        "make-before-break; see QueueRejections",
    ),
    "no_reply": (
        "ACKed but never answered",
        "the bot accepted the message and then failed to reply: handler errors, engine timeouts, or "
        "open-API calls that failed after retries",
        "look at reply_failed / handler_crashed in the bot log for these msgIds; add a fallback reply "
        "when the engine fails",
    ),
    "reply_rejected": (
        "answered but the reply was rejected by the platform",
        "the open API refused the reply (401 / 403 / 429 / 4xx) and the bot gave up",
        "see the API error findings below: refresh tokens early, request the missing scope, "
        "respect the QPS limit with backoff",
    ),
}


# Faults the emulator applies on purpose (ledger faults_applied) and the stage their losses land in.
FAULT_STAGES = {
    "push_dropped": ("not_acked", "pushes dropped on the way to the bot"),
    "ack_ignored": ("not_acked", "ACKs ignored by the platform"),
    "push_delayed": ("not_acked", "pushes delayed"),
    "disconnect_storm": ("not_pushed", "connections cut by a disconnect storm"),
}


def _injected(ctx: Context, stage: str) -> list[Evidence]:
    applied = ctx.ledger.faults_applied or {}
    return [
        Evidence(
            f"the emulator applied an injected fault {n} times: {FAULT_STAGES[k][1]}", f"ledger.json faults_applied.{k}"
        )
        for k, n in sorted(applied.items())
        if n and k in FAULT_STAGES and FAULT_STAGES[k][0] == stage
    ]


def _cross_checks(ctx: Context, stage: str, sample: list[dict]) -> list[Evidence]:
    bot, out = ctx.bot, []
    if bot.absence:
        return [Evidence(bot.absence, "logs/bot.log")]
    if stage in ("not_acked", "not_pushed") and bot.queue_rejected.count:
        out.append(
            Evidence(
                f"the bot refused {bot.queue_rejected.count} frames because its inbound buffer was full"
                f"{ctx.span(bot.queue_rejected)}",
                "logs/bot.log event=queue_rejected",
            )
        )
    reconnects = sum(s.count for s in bot.reconnects.values())
    if reconnects and stage in ("not_acked", "not_pushed", "no_reply"):
        reasons = ", ".join(f"{r} {s.count}" for r, s in sorted(bot.reconnects.items()))
        out.append(Evidence(f"the bot reconnected {reconnects} times ({reasons})", "logs/bot.log event=reconnect"))
    if stage in ("no_reply", "reply_rejected"):
        for (api, status, code), seen in sorted(bot.retries_exhausted.items()):
            out.append(
                Evidence(
                    f"{seen.count} calls to {api} gave up after retries on HTTP {status} {code}{ctx.span(seen)}",
                    "logs/bot.log event=retries_exhausted",
                )
            )
        failed = sum(s.count for s in bot.reply_failed.values())
        if failed:
            out.append(
                Evidence(
                    f"{failed} replies failed in the bot: "
                    + ", ".join(
                        f"{api} HTTP {status} x{s.count}" for (api, status), s in sorted(bot.reply_failed.items())
                    ),
                    "logs/bot.log event=reply_failed",
                )
            )
        if bot.handler_crashed.count:
            out.append(
                Evidence(
                    f"the message handler crashed {bot.handler_crashed.count} times",
                    "logs/bot.log event=handler_crashed",
                )
            )
        if bot.unanswered:
            out.append(
                Evidence(
                    f"{bot.unanswered} messages logged as received were never answered nor failed",
                    "logs/bot.log message_received without reply_sent / reply_failed",
                )
            )
    if bot.left_at_stop and stage in ("not_acked", "no_reply"):
        out.append(
            Evidence(
                f"the bot was stopped with {bot.left_at_stop} messages still queued or in hand",
                "logs/bot.log event=drain_incomplete",
            )
        )
    if bot.seq_gaps:
        out.append(
            Evidence(
                f"{bot.seq_gaps} reply sequence numbers missing ({bot.seq_gap_example})", "logs/bot.log reply_sent seq"
            )
        )
    logged = Counter(
        "received" if BotEvent.MESSAGE_RECEIVED in bot.lost_seen.get(str(m.get("msgId")), []) else "not logged"
        for m in sample
    )
    if sample:
        out.append(
            Evidence(
                f"of {len(sample)} sampled lost messages, the bot logged receiving {logged['received']}; "
                f"{logged['not logged']} do not appear in its log as received (most likely lost before its handler)",
                "ledger.json lost_sample x logs/bot.log message_received",
            )
        )
    return out


def _bot_failures(ctx: Context) -> int:
    bot = ctx.bot
    return (
        sum(s.count for s in bot.reply_failed.values())
        + bot.handler_crashed.count
        + sum(s.count for s in bot.retries_exhausted.values())
    )


def _answered_per_bot(ctx: Context, sample: list[dict[str, Any]]) -> int:
    """Sampled lost messages for which the bot logged its reply: it did answer, after the timeout."""
    return sum(1 for m in sample if BotEvent.REPLY_SENT in ctx.bot.lost_seen.get(str(m.get("msgId")), []))


def _stage_finding(ctx: Context, stage: str, count: int, late: int) -> Finding:
    what, cause, action = STAGES[stage]
    sent = (ctx.ledger.messages or {}).get("sent", "?")
    sample = [m for m in ctx.lost_sample if m.get("stage") == stage]
    evidence = [
        Evidence(
            f"{count} messages {what} (of {sent} sent)"
            + (f"; {late} more lost at this stage were answered after the timeout (loss.late_reply)" if late else ""),
            f"{ctx.ledger.source} lost_by_stage.{stage} - late_replies_by_stage.{stage}",
        )
    ]
    if sample:
        reasons = Counter(str(m.get("reason", "")) for m in sample).most_common(2)
        evidence.append(
            Evidence(
                "emulator's reason: " + "; ".join(f"{r} (x{n})" for r, n in reasons),
                "ledger.json lost_sample[].reason",
            )
        )
        times = sorted(float(m["sent_at"]) for m in sample if isinstance(m.get("sent_at"), (int, float)))
        if times:
            evidence.append(
                Evidence(
                    f"sampled losses were sent between {ctx.at(times[0])} and {ctx.at(times[-1])}",
                    "ledger.json lost_sample[].sent_at",
                )
            )
    injected = _injected(ctx, stage)
    evidence += injected + _cross_checks(ctx, stage, sample)
    if not sample:
        evidence.append(
            Evidence(
                "no message of this stage in the ledger's bounded lost sample: the bot's side "
                "of each message cannot be checked",
                "ledger.json lost_sample",
            )
        )
    if ctx.ledger.late_replies_by_stage is None and (ctx.ledger.messages or {}).get("late_replies"):
        evidence.append(
            Evidence(
                f"the ledger counts {(ctx.ledger.messages or {})['late_replies']} answers after the reply timeout "
                "but, from an older emulator, not for which messages: some of these may have been answered late",
                f"{ctx.ledger.source} messages.late_replies",
            )
        )
    if injected:
        cause = "faults injected by the run's scenario (see the evidence); otherwise: " + cause
    elif stage in ("no_reply", "reply_rejected") and ctx.bot.present and not _bot_failures(ctx):
        cause = STOPPED_BUSY.format(n=ctx.bot.left_at_stop) if ctx.bot.left_at_stop else NO_FAILURE_SEEN
    return Finding(
        f"loss.{stage}",
        f"{count} messages lost: {what}",
        "critical",
        f"The platform's ledger counts {count} messages that were {what}.",
        cause,
        action,
        RUNBOOK,
        evidence,
    )


def _late_finding(ctx: Context, late: dict[str, int]) -> Finding:
    total = sum(late.values())
    timeout = ctx.report.latency.timeouts_counted_at_s
    after = f"the {timeout:g} s reply timeout" if timeout else "the reply timeout"
    stages = ", ".join(f"{stage} {n}" for stage, n in late.items() if n)
    evidence = [
        Evidence(
            f"{total} lost messages were answered after {after} (lost at: {stages}); "
            f"{(ctx.ledger.messages or {}).get('late_replies', total)} answers came late in all",
            f"{ctx.ledger.source} late_replies_by_stage, messages.late_replies",
        )
    ]
    if ctx.late_reply_latency:
        p50, p99 = ctx.late_reply_latency.get("p50_s"), ctx.late_reply_latency.get("p99_s")
        if p50 is not None and p99 is not None:
            evidence.append(
                Evidence(
                    f"the late answers came {p50:.1f} s (median) and {p99:.1f} s (P99) after the message was sent",
                    "ledger.json latency.late_reply",
                )
            )
    sample = [m for m in ctx.lost_sample if late.get(str(m.get("stage")))]
    causes, actions = [], []
    if not ctx.bot.present:
        evidence.append(Evidence("the bot log is missing: the bot's side cannot be cross-checked", "logs/bot.log"))
    else:
        answered = _answered_per_bot(ctx, sample)
        if sample:
            evidence.append(
                Evidence(
                    f"the bot logged a reply for {answered} of {len(sample)} sampled lost messages",
                    "ledger.json lost_sample x logs/bot.log reply_sent",
                )
            )
        failures = _bot_failures(ctx)
        evidence.append(
            Evidence(
                f"the bot logged {failures} reply failures, handler crashes or exhausted retries"
                + (": failures do not explain the late answers" if not failures else ""),
                "logs/bot.log reply_failed, handler_crashed, retries_exhausted",
            )
        )
    backlog = ctx.report.resources.backlog_max
    if backlog is not None and backlog > ctx.thresholds.backlog_alert:
        evidence.append(Evidence(f"the bot's backlog peaked at {backlog:.0f}", "samples.jsonl backlog"))
        causes.append("messages waited in the bot's inbound buffer longer than the timeout")
        actions.append("raise the bot's concurrency or cut per-message work so that the buffer drains")
    rig = ctx.report.rig
    if rig is not None and not rig.held:
        crossed = "; ".join(c.name for c in rig.crossed if c.decides_verdict)
        evidence.append(Evidence(f"the rig did not hold meanwhile: {crossed}", "report rig health"))
        causes.append(
            "the rig was saturated (see rig health): the bot, the emulator or the load generator waited for CPU"
        )
        actions.append("run again on a quieter machine or with fewer users to tell the bot's slowness from the rig's")
    if any(s.id.startswith("p99_") and s.status == "fail" for s in ctx.report.slas):
        evidence.append(Evidence("the P99 latency SLA failed too: see the slowness finding", "report slas"))
    causes.append(
        "the bot answered, but too slowly: slowness (queueing, CPU, engine or downstream latency), not failure"
    )
    actions.append(
        "see the slowness finding for where the time went; a bot should drop or apologise for work past its "
        "deadline instead of answering after the user gave up"
    )
    return Finding(
        "loss.late_reply",
        f"{total} messages answered after {after}",
        "critical",
        f"The platform's ledger counts {total} lost messages that the bot answered after all, after {after}: "
        "their users had stopped waiting, so they count as lost and against availability.",
        "; ".join(causes),
        "; ".join(actions),
        LATE_RUNBOOK,
        evidence,
    )


def findings(ctx: Context) -> list[Finding]:
    by_stage = ctx.ledger.lost_by_stage or {}
    late = {k: v for k, v in (ctx.ledger.late_replies_by_stage or {}).items() if k in STAGES}
    out = []
    for stage, count in by_stage.items():
        never = count - late.get(stage, 0)
        if count and stage in STAGES and never > 0:
            out.append(_stage_finding(ctx, stage, never, late.get(stage, 0)))
    if sum(late.values()):
        out.append(_late_finding(ctx, late))
    return out
