"""The ground truth of every message's fate, with memory bounded for week-long runs.

A message's full record lives only while it is in flight. Once it is final (replied or lost) it is
folded into counters and dropped; only a bounded sample of lost messages keeps its details. Its id and
outcome are remembered for `final_memory_s` after it went final (the newest RECENT_FINAL_IDS at most),
so an answer in that window is told apart as duplicate or late; an answer after it is counted as
`forgotten_replies`, never credited to another message.
The summary format is the `ledger.json` contract in docs/run-folder.md.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Protocol

from harness.core.histograms import encode, new_histogram, percentile_seconds, record_seconds
from harness.platform.clock import SYSTEM_CLOCK, Clock
from harness.platform.incidents import Incidents
from harness.platform.metrics import PlatformMetrics

RECENT_FINAL_IDS = 200_000  # final ids remembered at most, however young (a ceiling at thousands per second)
LOST_AT = "lost:"  # a recent final id's outcome when lost: "lost:<stage>"


class Recipient(Protocol):
    """Where answers for a message go (the user-side session that sent it)."""

    def notify(self, payload: dict[str, Any]) -> None: ...


@dataclass(slots=True, eq=False)
class Record:
    msg_id: str
    kind: str  # "message" (robot CALLBACK), "event" (EVENT frame) or "card_callback" (card CALLBACK)
    app_id: str
    conversation_id: str
    client_msg_id: str
    sender: str
    recipient: Recipient | None
    data: dict[str, Any]
    topic: str
    # Ledger.open() stamps the send: unix seconds for what is written out, monotonic for durations.
    # The stage times after it are monotonic.
    sent_at: float = 0.0
    sent_monotonic: float = 0.0
    pushed_at: float | None = None
    connection_id: str = ""
    deliveries: int = 0
    acked_at: float | None = None
    nack: str = ""  # last non-200 ACK, for the lost sample's reason
    first_chunk_at: float | None = None
    reply_error: str = ""  # last rejected reply attempt
    chunks: int = 0
    card_text: str = ""
    claimed: bool = False  # a card instance answers it
    final: bool = False

    @property
    def answered_by_ack(self) -> bool:
        """An event or a card callback: the bot's ACK is its whole answer (a message needs a reply)."""
        return self.kind != "message"


class Ledger:
    def __init__(
        self,
        metrics: PlatformMetrics,
        reply_timeout_s: float,
        lost_sample_size: int,
        final_memory_s: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.metrics = metrics
        self.clock = clock
        self.reply_timeout_s = reply_timeout_s
        self.final_memory_s = max(reply_timeout_s, final_memory_s)  # see Settings.final_memory_s
        self.records: dict[str, Record] = {}
        self.counts = dict.fromkeys(
            (
                "sent",
                "pushed",
                "acked",
                "redelivered",
                "first_chunk",
                "replied",
                "lost",
                "duplicate_replies",
                "duplicate_replies_redelivered",
                "late_replies",
                "late_acks",
                "forgotten_replies",
            ),
            0,
        )
        self.event_counts = dict.fromkeys(("sent", "pushed", "acked", "redelivered", "refused", "lost"), 0)
        self.lost_by_stage = dict.fromkeys(("not_pushed", "not_acked", "no_reply", "reply_rejected"), 0)
        # lost messages the bot answered after all, by the stage they were lost at (each message once):
        # late, not failed - the diagnosis tells the two apart
        self.late_by_stage = dict.fromkeys(self.lost_by_stage, 0)
        self.lost_sample: deque[dict[str, Any]] = deque(maxlen=lost_sample_size)
        self.connections = {"opened": 0, "closed": 0, "current": 0}
        self._by_conversation: dict[str, deque[str]] = {}
        self._deadlines: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        # msg id -> (outcome, sent, deliveries, went final), oldest final first (times monotonic)
        self._recent_final: OrderedDict[str, tuple[str, float, int, float]] = OrderedDict()
        # Where a message's time goes, as the platform sees it (mergeable, microseconds):
        # push = sent -> first push, ack = first push -> ACK 200, first_chunk / reply = sent -> answer,
        # late_reply = sent -> the first answer to a message already lost (after the reply timeout).
        self.latency = {name: new_histogram() for name in ("push", "ack", "first_chunk", "reply", "late_reply")}
        self.incidents = Incidents(clock)  # messages caught by bot process faults, to their fates

    # --- stages -----------------------------------------------------------------------------------
    def open(self, record: Record) -> None:
        record.sent_at, record.sent_monotonic = self.clock.wall(), self.clock.monotonic()
        self.records[record.msg_id] = record
        heapq.heappush(self._deadlines, (record.sent_monotonic + self.reply_timeout_s, next(self._seq), record.msg_id))
        if record.answered_by_ack:
            self.event_counts["sent"] += 1
            return
        self._by_conversation.setdefault(record.conversation_id, deque()).append(record.msg_id)
        self._count("sent")
        self.incidents.sent(record)

    def pushed(self, record: Record, connection_id: str) -> None:
        record.deliveries += 1
        record.connection_id = connection_id
        first = record.pushed_at is None
        if first:
            record.pushed_at = self.clock.monotonic()
            if record.kind == "message":
                record_seconds(self.latency["push"], record.pushed_at - record.sent_monotonic)
        stage = "pushed" if first else "redelivered"
        if record.answered_by_ack:
            self.event_counts[stage] += 1
        else:
            self._count(stage)
            self.incidents.pushed(record, connection_id)

    def acked(self, record: Record) -> None:
        if record.acked_at is not None:
            return
        record.acked_at = self.clock.monotonic()
        if record.answered_by_ack:
            self.event_counts["acked"] += 1
            self._finish(record, "acked")
        else:
            self._count("acked")
            record_seconds(self.latency["ack"], record.acked_at - (record.pushed_at or record.acked_at))

    def event_refused(self, record: Record) -> None:
        if not record.final:
            self.event_counts["refused"] += 1
            self._finish(record, "refused")

    def chunk(self, record: Record) -> None:
        record.chunks += 1
        if record.first_chunk_at is None:
            record.first_chunk_at = self.clock.monotonic()
            self._count("first_chunk")
            record_seconds(self.latency["first_chunk"], record.first_chunk_at - record.sent_monotonic)

    def replied(self, record: Record) -> None:
        if record.first_chunk_at is None:
            self.chunk(record)
        self._count("replied")
        record_seconds(self.latency["reply"], self.clock.monotonic() - record.sent_monotonic)
        self._finish(record, "replied")

    def reply_rejected(self, record: Record, reason: str) -> None:
        record.reply_error = reason

    def answer_for_final(self, msg_id: str) -> None:
        """A reply arrived for a message that is already final: count it as duplicate or late. The first
        answer to a lost message also counts that message as answered late, at the stage it was lost.
        An answer to a message final for longer than `final_memory_s` is `forgotten_replies`."""
        self._forget(self.clock.monotonic())
        remembered = self._recent_final.get(msg_id)
        if remembered is None:
            self.counts["forgotten_replies"] += 1
            return
        outcome, sent, deliveries, final_at = remembered
        self.incidents.answered_again(msg_id, outcome)
        if outcome == "replied":
            self.counts["duplicate_replies"] += 1
            if deliveries > 1:  # pushed again (at-least-once) and answered again: explained by the redelivery
                self.counts["duplicate_replies_redelivered"] += 1
            return
        self.counts["late_replies"] += 1
        if outcome.startswith(LOST_AT):
            self.late_by_stage[outcome.removeprefix(LOST_AT)] += 1
            record_seconds(self.latency["late_reply"], self.clock.monotonic() - sent)
            self._recent_final[msg_id] = ("late", sent, deliveries, final_at)  # its place in the order stays

    # --- look-ups ---------------------------------------------------------------------------------
    def get(self, msg_id: str) -> Record | None:
        return self.records.get(msg_id)

    def oldest_unanswered(self, conversation_id: str, app_id: str) -> Record | None:
        """The oldest message of the conversation still waiting for an answer and not claimed by a card."""
        for msg_id in self._by_conversation.get(conversation_id, ()):
            record = self.records.get(msg_id)
            if record is not None and not record.claimed and record.app_id == app_id:
                return record
        return None

    # --- expiry and shutdown ----------------------------------------------------------------------
    def expire(self, now: float | None = None) -> int:
        """Count messages past their reply deadline as lost. Returns how many were expired."""
        now = self.clock.monotonic() if now is None else now
        expired = 0
        while self._deadlines and self._deadlines[0][0] <= now:
            _, _, msg_id = heapq.heappop(self._deadlines)
            record = self.records.get(msg_id)
            if record is not None and not record.final:
                self.lose(record)
                expired += 1
        self._forget(now)
        return expired

    def lose(self, record: Record, reason: str = "") -> None:
        stage = self._loss_stage(record)
        if record.answered_by_ack:
            self.event_counts["lost"] += 1
        else:
            self._count("lost")
            self.lost_by_stage[stage] += 1
            self.metrics.lost_at(stage)
            self.lost_sample.append(
                {
                    "msgId": record.msg_id,
                    "clientMsgId": record.client_msg_id,
                    "conversationId": record.conversation_id,
                    "stage": stage,
                    "sent_at": record.sent_at,
                    "pushed_at": None
                    if record.pushed_at is None
                    else record.sent_at + record.pushed_at - record.sent_monotonic,
                    "connectionId": record.connection_id,
                    "deliveries": record.deliveries,
                    "reason": reason or self._loss_reason(record, stage),
                }
            )
        self._finish(record, LOST_AT + stage if record.kind == "message" else "lost")

    def lose_all_pending(self, reason: str) -> None:
        for record in list(self.records.values()):
            if not record.final:
                self.lose(record, reason)

    @property
    def remembered_final(self) -> int:
        """Final messages whose ids are still remembered (in memory for `final_memory_s`)."""
        return len(self._recent_final)

    # --- export -----------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Messages sent and not yet final (each ends exactly once: replied or lost)."""
        return self.counts["sent"] - self.counts["replied"] - self.counts["lost"]

    def summary(self) -> dict[str, Any]:
        pending = self.pending
        api = [
            {"api": s.labels["api"], "status": int(s.labels["status"]), "code": s.labels["code"], "count": int(s.value)}
            for metric in self.metrics.api_responses.collect()
            for s in metric.samples
            if s.name.endswith("_total")
        ]
        failures = {
            s.labels["api"]: int(s.value)
            for metric in self.metrics.login_failures.collect()
            for s in metric.samples
            if s.name.endswith("_total")
        }
        return {
            "generated_at": self.clock.wall(),
            "reply_timeout_s": self.reply_timeout_s,
            "messages": {**self.counts, "pending": pending},
            "lost_by_stage": dict(self.lost_by_stage),
            "late_replies_by_stage": dict(self.late_by_stage),
            "events": dict(self.event_counts),
            "api_responses": api,
            "login_failures": failures,
            "connections": dict(self.connections),
            "lost_sample": list(self.lost_sample),
            "incidents": self.incidents.summary(),
            "latency": {
                name: {
                    "count": hist.get_total_count(),
                    "p50_s": percentile_seconds(hist, 50),
                    "p99_s": percentile_seconds(hist, 99),
                    "hist": encode(hist),
                }
                for name, hist in self.latency.items()
            },
        }

    # --- internals --------------------------------------------------------------------------------
    def _count(self, stage: str) -> None:
        self.counts[stage] += 1
        self.metrics.stage(stage)

    def _finish(self, record: Record, outcome: str) -> None:
        if record.final:
            return
        record.final = True
        if record.kind == "message":
            self.incidents.final(record, outcome)
        self.records.pop(record.msg_id, None)
        queue = self._by_conversation.get(record.conversation_id)
        if queue is not None:  # keep only unfinished ids: finished ones leave from the head
            while queue and queue[0] not in self.records:
                queue.popleft()
            if not queue:
                del self._by_conversation[record.conversation_id]
        now = self.clock.monotonic()
        self._recent_final[record.msg_id] = (outcome, record.sent_monotonic, record.deliveries, now)
        self._forget(now)

    def _forget(self, now: float) -> None:
        """Drop the ids final for longer than final_memory_s, and the oldest beyond RECENT_FINAL_IDS."""
        recent = self._recent_final
        while recent and (
            len(recent) > RECENT_FINAL_IDS or next(iter(recent.values()))[3] + self.final_memory_s <= now
        ):
            recent.popitem(last=False)

    @staticmethod
    def _loss_stage(record: Record) -> str:
        if record.reply_error:
            return "reply_rejected"
        if record.pushed_at is None:
            return "not_pushed"
        if record.acked_at is None:
            return "not_acked"
        return "no_reply"

    def _loss_reason(self, record: Record, stage: str) -> str:
        timeout = f"no final reply within {self.reply_timeout_s:g} s"
        return {
            "reply_rejected": f"{timeout}; last reply attempt rejected: {record.reply_error}",
            "not_pushed": f"{timeout}; no stream connection subscribed to {record.topic} for app {record.app_id}",
            "not_acked": f"{timeout}; pushed {record.deliveries} time(s), never ACKed with 200"
            + (f" (last ACK: {record.nack})" if record.nack else ""),
            "no_reply": f"{timeout}; ACKed but the bot never answered",
        }[stage]
