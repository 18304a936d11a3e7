"""Runbook as code: lost messages, by the stage where they stopped (runbooks/message-loss.md).

The emulator's ledger is the ground truth of each message's fate, and the finding rests on it and on
the faults the emulator applied. A bot log in the optional format (docs/run-folder.md) adds what the
bot logged of each stage: queue rejections (the bot asked for redelivery), reconnects (pushes to a
dying connection), replies it never logged (sequence gaps, received but unanswered), and retries
exhausted on the open API. Any other log, or none, adds nothing and is said so, never read as the bot
having done nothing.
"""

from __future__ import annotations

from collections import Counter

from harness.analysis.diagnose.context import Context
from harness.analysis.diagnose.model import Evidence, Finding
from harness.core.contract import BotEvent

RUNBOOK = "runbooks/message-loss.md"

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


def findings(ctx: Context) -> list[Finding]:
    by_stage = ctx.ledger.lost_by_stage or {}
    sent = (ctx.ledger.messages or {}).get("sent", "?")
    out = []
    for stage, count in by_stage.items():
        if not count or stage not in STAGES:
            continue
        what, cause, action = STAGES[stage]
        sample = [m for m in ctx.lost_sample if m.get("stage") == stage]
        evidence = [
            Evidence(
                f"{count} messages {what} (of {sent} sent)",
                f"{ctx.ledger.source} lost_by_stage.{stage}",
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
        if injected:
            cause = "faults injected by the run's scenario (see the evidence); otherwise: " + cause
        out.append(
            Finding(
                f"loss.{stage}",
                f"{count} messages lost: {what}",
                "critical",
                f"The platform's ledger counts {count} messages that were {what}.",
                cause,
                action,
                RUNBOOK,
                evidence,
            )
        )
    return out
