"""Inbound path: decide each EVENT / CALLBACK frame's ACK, queue robot messages for workers.

A robot message is ACKed once queued, or with `buffer.ack = "after_answer"` once answered (a future the
stream client sends when it resolves): a process killed while holding it then leaves it unACKed.

The buffer is bounded. A message that does not fit is ACKed with a redelivery code and counted, so
the platform keeps it and tries again: nothing is dropped silently. A msgId already taken in is
ACKed as OK and not answered again.

Workers answer in parallel, but one sender's messages in one conversation are answered one after the
other, in arrival order: a quick `/test` must not overtake the long answer asked just before it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness.core.contract import BotEvent
from reference_bot.adapter import AdapterError, StandardMessage, from_robot_message
from reference_bot.config import Buffer
from reference_bot.conversations import Conversations, membership_change
from reference_bot.dedup import RecentIds
from reference_bot.delivery_age import DeliveryAges
from reference_bot.frames import BAD_REQUEST, NOT_FOUND, REDELIVER, ROBOT_TOPIC, Frame, FrameError, ack, event_ack
from reference_bot.logs import event
from reference_bot.metrics import INBOUND_QUEUE, BotMetrics

WARNING = 30


@dataclass(frozen=True)
class Inbound:
    msg: StandardMessage
    received_at: float  # time.perf_counter() when the frame arrived
    ack: asyncio.Future[str] | None = None  # after_answer: resolved with the ACK frame once answered
    message_id: str = ""  # the delivery's messageId, which that ACK names
    waited_before: float = 0.0  # seconds it had waited before it reached this bot (a redelivery)

    def waited(self) -> float:
        """Seconds since the platform first pushed it, as far as this bot can tell."""
        return time.perf_counter() - self.received_at + self.waited_before


class InboundBuffer:
    def __init__(
        self,
        config: Buffer,
        metrics: BotMetrics,
        conversations: Conversations,
        handle: Callable[[Inbound], Awaitable[None]],
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.conversations = conversations
        self.handle = handle
        self.queue: asyncio.Queue[Inbound] = asyncio.Queue(maxsize=config.capacity)
        self.recent = RecentIds(config.dedup_capacity, config.dedup_ttl_seconds)
        self.ages = DeliveryAges()
        self.busy = 0
        # the depth is read when scraped: setting it on every put and get cost two gauge updates a message
        metrics.queue_depth.labels(queue=INBOUND_QUEUE).set_function(self.queue.qsize)
        self._workers: list[asyncio.Task[None]] = []
        # per (conversation, sender): a FIFO lock and how many workers hold or wait for it (to forget it)
        self._in_order: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.config.workers)]

    async def stop(self, drain_seconds: float) -> None:
        """Let queued and running messages finish (bounded), then stop the workers."""
        try:
            await asyncio.wait_for(self.queue.join(), drain_seconds)
        except asyncio.TimeoutError:
            event(BotEvent.DRAIN_INCOMPLETE, WARNING, queued=self.queue.qsize(), running=self.busy)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    # --- frames (called by the stream client, synchronously, for each EVENT / CALLBACK) ---

    def on_frame(self, frame: Frame) -> str | asyncio.Future[str]:
        if frame.type == "EVENT":
            return self._on_event(frame)
        if frame.topic != ROBOT_TOPIC:
            event(BotEvent.UNKNOWN_TOPIC, WARNING, type=frame.type, topic=frame.topic, messageId=frame.message_id)
            return ack(frame.message_id, NOT_FOUND, f"no handler for topic {frame.topic!r}")
        return self._on_robot_message(frame)

    def _on_event(self, frame: Frame) -> str:
        event_type = frame.headers.get("eventType", "")
        try:
            change = membership_change(event_type, frame.json_data())
        except FrameError as exc:
            event(BotEvent.BAD_EVENT, WARNING, messageId=frame.message_id, eventType=event_type, reason=str(exc))
            return ack(frame.message_id, BAD_REQUEST, str(exc))
        if change is None:
            event(BotEvent.EVENT_IGNORED, eventType=event_type, messageId=frame.message_id)
        else:
            kind, conversation_id, users = change
            self.conversations.apply(kind, conversation_id, users)
            event(
                BotEvent.MEMBERSHIP_CHANGED,
                change=kind,
                conversationId=conversation_id,
                users=users,
                members=len(self.conversations.members.get(conversation_id, ())),
            )
        return event_ack(frame.message_id)

    def _reject(self, frame: Frame, reason: str, msg_id: str = "") -> str:
        self.metrics.message_processed("rejected")
        event(BotEvent.MESSAGE_REJECTED, WARNING, messageId=frame.message_id, msgId=msg_id, reason=reason)
        return ack(frame.message_id, BAD_REQUEST, reason)

    def _on_robot_message(self, frame: Frame) -> str | asyncio.Future[str]:
        received_at = time.perf_counter()
        try:
            msg = from_robot_message(frame.json_data())
        except (FrameError, AdapterError) as exc:
            return self._reject(frame, str(exc))
        if len(msg.text) > self.config.max_text_chars:
            return self._reject(
                frame,
                f"text.content: expected at most {self.config.max_text_chars} characters, got {len(msg.text)}",
                msg.msg_id,
            )
        if msg.msg_id in self.recent:
            self.metrics.duplicates.inc()
            event(BotEvent.DUPLICATE_DROPPED, msgId=msg.msg_id, conversationId=msg.conversation_id)
            return ack(frame.message_id)
        later = asyncio.get_running_loop().create_future() if self.config.ack == "after_answer" else None
        try:
            waited = self.ages.waited_before(msg.created_at_ms)
            self.queue.put_nowait(Inbound(msg, received_at, later, frame.message_id, waited))
        except asyncio.QueueFull:
            self.metrics.queue_rejected.labels(queue=INBOUND_QUEUE).inc()
            event(
                BotEvent.QUEUE_REJECTED,
                WARNING,
                msgId=msg.msg_id,
                conversationId=msg.conversation_id,
                capacity=self.config.capacity,
            )
            return ack(frame.message_id, REDELIVER, "inbound buffer full, deliver again later")
        self.recent.add(msg.msg_id)
        event(
            BotEvent.MESSAGE_RECEIVED,
            msgId=msg.msg_id,
            conversationId=msg.conversation_id,
            msgtype=msg.msgtype,
            kind=msg.conversation_kind,
        )
        return ack(frame.message_id) if later is None else later

    async def _work(self) -> None:
        while True:
            item = await self.queue.get()
            self.busy += 1
            try:
                answer = await self._answered(item)
                if item.ack is not None and not item.ack.done():  # after_answer: the ACK goes now
                    item.ack.set_result(answer)
            finally:
                self.busy -= 1
                self.queue.task_done()

    async def _answered(self, item: Inbound) -> str:
        """Answer one message; the ACK that says how it went (a crash asks for a redelivery)."""
        try:
            await self._answer_in_order(item)
        except Exception:  # one message's failure must not kill the worker
            event(BotEvent.HANDLER_CRASHED, 40, msgId=item.msg.msg_id, exc_info=True)
            if item.ack is not None:
                self.recent.discard(item.msg.msg_id)  # its redelivery must be answered, not dropped
            return ack(item.message_id, REDELIVER, "internal error, deliver again later")
        return ack(item.message_id)

    async def _answer_in_order(self, item: Inbound) -> None:
        # Taken without awaiting after queue.get(), so workers line up in queue order (asyncio.Lock is FIFO).
        key = (item.msg.conversation_id, item.msg.sender.id)
        lock, users = self._in_order.get(key, (asyncio.Lock(), 0))
        self._in_order[key] = (lock, users + 1)
        try:
            async with lock:
                await self.handle(item)
        finally:
            lock, users = self._in_order[key]
            if users == 1:
                del self._in_order[key]
            else:
                self._in_order[key] = (lock, users - 1)
