"""Answer one queued message: a command, a plain-text reply, or an AI card streamed chunk by chunk.

Each answered message is logged as `reply_sent` with its per-conversation sequence number `seq`, so
message continuity can be checked from the log alone.
"""

from __future__ import annotations

import time

from harness.core.contract import BotEvent
from reference_bot.adapter import StandardMessage
from reference_bot.commands import answer_command
from reference_bot.conversations import Conversations
from reference_bot.engine import AnswerEngine
from reference_bot.inbound import Inbound
from reference_bot.leak_demo import LeakDemo
from reference_bot.logs import event
from reference_bot.metrics import BotMetrics
from reference_bot.replier import ApiError, Replier

NOT_TEXT_REPLY = "I can only read text messages; please type your question."
EXPIRED_REPLY = "Sorry, I could not get to your message in time. Please ask again."
WARNING = 30


class Answerer:
    def __init__(
        self,
        replier: Replier,
        engine: AnswerEngine,
        conversations: Conversations,
        metrics: BotMetrics,
        deadline_seconds: float = 0.0,
        on_deadline: str = "apologize",
        leak: LeakDemo | None = None,
    ) -> None:
        self.replier = replier
        self.engine = engine
        self.conversations = conversations
        self.metrics = metrics
        self.deadline_seconds = deadline_seconds
        self.on_deadline = on_deadline
        self.started_at = time.monotonic()
        self.leak = leak

    async def handle(self, item: Inbound) -> None:
        msg = item.msg
        if self.leak is not None:
            self.leak.remember_for_leak_demo()
        waited = item.waited()
        if self.deadline_seconds and waited > self.deadline_seconds:
            await self._expired(item, waited)
            return
        try:
            via = await self._answer(item)
        except Exception as exc:  # any failure is this message's outcome, never the worker's end
            self.metrics.message_processed("failed")
            event(
                BotEvent.REPLY_FAILED,
                40,
                exc_info=not isinstance(exc, ApiError),
                msgId=msg.msg_id,
                conversationId=msg.conversation_id,
                api=getattr(exc, "api", "engine"),
                status=getattr(exc, "status", None),
                error=str(exc),
            )
            return
        elapsed = time.perf_counter() - item.received_at
        self.metrics.processing_seconds.observe(elapsed)
        self.metrics.message_processed("replied")
        event(
            BotEvent.REPLY_SENT,
            msgId=msg.msg_id,
            conversationId=msg.conversation_id,
            seq=self.conversations.next_reply_seq(msg.conversation_id),
            via=via,
            latency_ms=round(elapsed * 1000, 2),
        )

    async def _expired(self, item: Inbound, waited: float) -> None:
        """Queued past the deadline: drop it, or tell the user (settable); counted and logged either way."""
        msg = item.msg
        self.metrics.message_processed("expired")
        told = False
        if self.on_deadline == "apologize":
            try:
                await self.replier.send_text(msg, EXPIRED_REPLY)
                told = True
            except Exception as exc:  # the apology is best effort; the outcome stays "expired"
                event(BotEvent.REPLY_FAILED, WARNING, msgId=msg.msg_id, api=getattr(exc, "api", "send"), error=str(exc))
        event(
            BotEvent.MESSAGE_EXPIRED,
            WARNING,
            msgId=msg.msg_id,
            conversationId=msg.conversation_id,
            waited_s=round(waited, 3),
            waited_before_s=round(item.waited_before, 3),
            deadline_s=self.deadline_seconds,
            user_told=told,
        )

    def _first_reply(self, item: Inbound) -> None:
        self.metrics.first_reply_seconds.observe(time.perf_counter() - item.received_at)

    async def _answer(self, item: Inbound) -> str:
        msg = item.msg
        command = answer_command(msg.text, self.engine.name, self.started_at)
        if command is None and not msg.text:
            command = (NOT_TEXT_REPLY, False)
        if command is not None:
            via = await self.replier.send_text(msg, *command)
            self._first_reply(item)
            return via
        if not self.engine.streams():
            text = "".join([piece async for piece in self.engine.generate(msg.text)])
            via = await self.replier.send_text(msg, text)
            self._first_reply(item)
            return via
        return await self._stream_card(item, msg)

    async def _stream_card(self, item: Inbound, msg: StandardMessage) -> str:
        try:
            card = await self.replier.create_card(msg)
        except ApiError as exc:
            if exc.status != 403:
                raise
            # No card permission (or a QPS limit that outlasted the retries): the user still gets the
            # answer, as one plain-text reply through the sessionWebhook.
            text = "".join([piece async for piece in self.engine.generate(msg.text)])
            via = await self.replier.send_text(msg, text)
            self._first_reply(item)
            return via
        content = ""
        updates = 0
        async for piece in self.engine.generate(msg.text):
            content += piece
            updates += 1
            await self.replier.stream_card(card, content, f"{card}-{updates}", finalize=False)
            if updates == 1:
                self._first_reply(item)
        await self.replier.stream_card(card, content, f"{card}-final", finalize=True)
        return "card"
