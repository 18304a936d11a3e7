"""What the inbound buffer exports: the queue depth as it is when scraped."""

import asyncio

import pytest

from reference_bot.config import Buffer
from reference_bot.conversations import Conversations
from reference_bot.inbound import InboundBuffer
from reference_bot.metrics import INBOUND_QUEUE, BotMetrics

pytestmark = pytest.mark.unit


def test_the_scraped_queue_depth_is_the_queue_s_size_at_scrape_time():
    async def check() -> list[float]:
        metrics = BotMetrics("test", 10)

        async def handle(item: object) -> None:
            return None

        buffer = InboundBuffer(Buffer(capacity=10), metrics, Conversations(), handle)
        depths = [metrics.value("chatbot_queue_depth", queue=INBOUND_QUEUE)]
        for item in range(3):
            buffer.queue.put_nowait(item)  # type: ignore[arg-type]
        depths.append(metrics.value("chatbot_queue_depth", queue=INBOUND_QUEUE))
        buffer.queue.get_nowait()
        depths.append(metrics.value("chatbot_queue_depth", queue=INBOUND_QUEUE))
        return depths

    assert asyncio.run(check()) == [0.0, 3.0, 2.0]
