"""Runbook as code: a bot process fault (kill, stop, restart) that cost users messages
(runbooks/failover.md).

The evidence is the report's failover section, which is the ledger's `incidents` (each message the
fault caught, followed to its fate) joined with the manifest's record of the fault (when, which
replica, which pid), and the ledger's lost sample, which says at which stage each lost message stopped:
`no_reply` (ACKed, never answered) means the bot ACKed before answering and died holding the message,
which the platform never redelivers; `not_acked` means the redeliveries ran out or found no live
connection.
"""

from __future__ import annotations

from collections import Counter

from harness.analysis.diagnose.context import Context
from harness.analysis.diagnose.model import Evidence, Finding
from harness.analysis.report.model import ProcessFault
from harness.core.simclock import format_sim

RUNBOOK = "runbooks/failover.md"
DONE = {"kill": "killed", "stop": "stopped", "cont": "continued", "restart": "restarted"}
CAUSES = {
    "no_reply": "the bot ACKed these messages and died before answering them: the platform does not redeliver "
    "an ACKed message",
    "not_acked": "the platform redelivered them until its redeliveries ran out, or found no live connection "
    "to take them (no standby, or the standby not subscribed)",
    "not_pushed": "no connection of the app was live to take them: every replica was down",
}


def _unanswered(fault: ProcessFault) -> tuple[int, int]:
    """(in flight never answered in time, sent during never answered in time)."""
    counts = []
    for group in (fault.in_flight, fault.sent_during):
        counts.append(0 if group is None else group.count - group.answered_in_time)
    return counts[0], counts[1]


def _finding(ctx: Context, fault: ProcessFault) -> Finding | None:
    in_flight, sent_during = _unanswered(fault)
    if not in_flight and not sent_during:
        return None
    assert fault.in_flight is not None
    where = f"ledger.json incidents[id={fault.incident}]"
    fates = fault.in_flight.fates
    evidence = [
        Evidence(
            f"{fault.process} of {fault.component} (pid {fault.pid}{', the serving replica' if fault.serving else ''}) "
            f"at {format_sim(fault.sim)} ({fault.step})",
            "manifest.json process_faults",
        ),
        Evidence(
            f"{fault.in_flight.count} messages were in flight on its connection: {fates.replied} answered, "
            f"{fates.redelivered_replied} redelivered and answered, {fates.late} answered late, {fates.lost} lost, "
            f"{fates.pending} never final",
            f"{where}.in_flight.fates",
        ),
    ]
    if fault.sent_during is not None and sent_during:
        evidence.append(
            Evidence(
                f"{sent_during} of {fault.sent_during.count} messages sent during the incident were not answered "
                "in time",
                f"{where}.sent_during.fates",
            )
        )
    evidence.append(
        Evidence(
            "the first reply through another connection came "
            + ("never" if fault.to_next_reply_s is None else f"{fault.to_next_reply_s:.2f} s after the fault"),
            f"{where}.recovered_at - manifest.json process_faults.unix",
        )
    )
    lost = set(fault.lost_msg_ids)
    stages = Counter(str(m.get("stage")) for m in ctx.lost_sample if m.get("msgId") in lost)
    if stages:
        evidence.append(
            Evidence(
                "lost at: " + ", ".join(f"{stage} {n}" for stage, n in stages.most_common()),
                "ledger.json lost_sample[].stage for the incident's msgIds",
            )
        )
    if lost:
        shown = sorted(lost)[:5]
        evidence.append(
            Evidence(f"e.g. {', '.join(shown)}{' ...' if len(lost) > 5 else ''}", f"{where}.messages[].msgId")
        )
    cause = "; ".join(CAUSES[s] for s in stages if s in CAUSES) or (
        "the fates say the messages were not answered in time; the lost sample does not hold them, so the stage "
        "they stopped at is not known"
    )
    return Finding(
        f"failover.lost.{fault.incident}",
        f"{in_flight + sent_during} messages lost when {fault.component} was {DONE.get(fault.process, fault.process)}",
        "critical",
        f"Of the messages a {fault.process} of {fault.component} caught, {in_flight} in flight on its connection "
        f"and {sent_during} sent during the incident were not answered in time.",
        cause,
        "ACK a message only once it is answered (the DingTalk SDKs do; the reference bot with "
        'buffer.ack = "after_answer"), run a standby replica, and keep answers well inside the ACK timeout',
        RUNBOOK,
        evidence,
    )


def findings(ctx: Context) -> list[Finding]:
    return [f for fault in ctx.report.failover or [] if (f := _finding(ctx, fault)) is not None]
