"""The answer engine. Default: a deterministic simulated LLM whose cost is set by configuration.

Time to first token, tokens per second, reply length and CPU per token are knobs, so a scenario can
make the bot slow, CPU-bound or cheap. The CPU is burnt in simulate_token_compute() only, so a flame
graph of a busy bot names that function as the hot spot (harness profile tests look for the name).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Protocol

from reference_bot.config import Engine as EngineConfig
from reference_bot.config import NlpEngine

VOCABULARY = (
    "the",
    "service",
    "request",
    "answer",
    "policy",
    "team",
    "meeting",
    "report",
    "update",
    "please",
    "check",
    "system",
    "ticket",
    "approval",
    "deadline",
    "project",
    "budget",
    "customer",
    "order",
    "status",
    "today",
    "tomorrow",
    "review",
    "document",
    "access",
    "account",
    "network",
    "release",
    "schedule",
    "thanks",
)


def simulate_token_compute(cpu_seconds: float) -> int:
    """Burn `cpu_seconds` of this thread's CPU, standing in for the model computing one token."""
    if cpu_seconds <= 0:
        return 0
    deadline = time.thread_time() + cpu_seconds
    state = 1
    while time.thread_time() < deadline:
        for _ in range(200):  # a small pure-Python kernel between clock reads keeps the clock cheap
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
    return state


class AnswerEngine(Protocol):
    name: str

    def streams(self) -> bool:
        """True when answers go out as streamed card updates, False for one plain-text reply."""
        ...

    def generate(self, text: str) -> AsyncIterator[str]:
        """The answer as growing pieces (each a delta to append)."""
        ...

    async def close(self) -> None: ...


class SimulatedEngine:
    def __init__(self, config: EngineConfig, nlp: NlpEngine) -> None:
        self.config = config
        self.name = f"simulated:{nlp.model_path}"
        self.reply_tokens = min(config.reply_tokens, nlp.max_tokens)

    def streams(self) -> bool:
        return self.reply_tokens > self.config.plain_text_max_tokens

    def words(self, text: str) -> list[str]:
        """The answer's tokens: the same question always gets the same answer. Each token is one byte of
        an extendable-output hash of the question (SHAKE-128), so a simulated answer costs one C call
        and no seeded random generator (seeding one was most of the engine's cost at zero settings)."""
        return [
            VOCABULARY[b % len(VOCABULARY)] for b in hashlib.shake_128(text.encode("utf-8")).digest(self.reply_tokens)
        ]

    async def generate(self, text: str) -> AsyncIterator[str]:
        cfg = self.config
        speed = cfg.speed_factor  # a faster (say quantised) model: every cost divided by it
        first_token_s = cfg.first_token_seconds / speed
        cpu_s_per_token = cfg.cpu_ms_per_token / 1000.0 / speed
        tokens_per_second = cfg.tokens_per_second * speed
        words = self.words(text)
        loop = asyncio.get_running_loop()
        start = loop.time() + first_token_s
        if first_token_s > 0:
            await asyncio.sleep(first_token_s)
        for first in range(0, len(words), cfg.chunk_tokens):
            chunk = words[first : first + cfg.chunk_tokens]
            if cpu_s_per_token > 0:
                for _ in chunk:
                    simulate_token_compute(cpu_s_per_token)
            if tokens_per_second > 0:  # pace against an absolute schedule so delays don't add up
                due = start + (first + len(chunk)) / tokens_per_second
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
            yield ("" if first == 0 else " ") + " ".join(chunk)

    async def close(self) -> None:
        return None
