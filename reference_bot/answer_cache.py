"""The answer cache: a question asked before is answered from Redis instead of by the engine.

The key is the normalised question (Unicode NFKC, case-folded, white space collapsed, outer
punctuation dropped), hashed so that a long question makes a short key; the value is the whole answer,
kept `ttl_seconds`. At most `max_entries` answers are kept: a sorted set indexes them by the time they
were stored and the oldest go first. Every lookup counts as a hit, a miss or an error in
`chatbot_answer_cache_lookups_total`; on an error (Redis down or slower than `timeout_seconds`) the
engine answers, so the cache can make the bot faster but never stop it. The log says when the cache
becomes unusable and when it works again, not once per message.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from harness.core.contract import BotEvent
from reference_bot.config import AnswerCache as AnswerCacheConfig
from reference_bot.engine import AnswerEngine
from reference_bot.logs import event
from reference_bot.metrics import BotMetrics

WARNING = 30
OUTER_PUNCTUATION = " \t.?!,;:。？！，；："


def normalise(question: str) -> str:
    """The cache key's text: the same question however it is cased, spaced or punctuated at its ends."""
    text = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
    return text.strip(OUTER_PUNCTUATION)


def redis_address(url: str) -> str:
    """host:port/db or the socket path of a Redis URL, for the log (never a password)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}{parts.path or ''}"


class AnswerCache:
    def __init__(self, config: AnswerCacheConfig, metrics: BotMetrics, password: str = "") -> None:
        self.config = config
        self.metrics = metrics
        self.redis = aioredis.Redis.from_url(
            config.url,
            password=password or None,
            socket_timeout=config.timeout_seconds,
            socket_connect_timeout=config.timeout_seconds,
            decode_responses=True,
        )
        self.index = config.key_prefix + "index"
        self.healthy: bool | None = None  # None until the first answer from Redis or the first error

    def key(self, question: str) -> str:
        return self.config.key_prefix + hashlib.sha256(normalise(question).encode("utf-8")).hexdigest()

    async def check(self) -> bool:
        """Ping Redis once at start-up; the log says whether the cache is in use."""
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return False
        self._worked()
        return True

    async def get(self, question: str) -> str | None:
        try:
            answer = await self.redis.get(self.key(question))
        except (RedisError, OSError) as exc:
            self._count("error")
            self._failed(exc)
            return None
        self._worked()
        self._count("miss" if answer is None else "hit")
        return answer

    async def put(self, question: str, answer: str) -> None:
        key, now, ttl = self.key(question), time.time(), self.config.ttl_seconds
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(key, answer, px=int(ttl * 1000))
                pipe.zadd(self.index, {key: now})
                pipe.zremrangebyscore(self.index, "-inf", now - ttl)  # expired answers leave the index
                pipe.zcard(self.index)
                *_, size = await pipe.execute()
            excess = int(size) - self.config.max_entries
            if excess > 0:
                oldest = await self.redis.zpopmin(self.index, excess)
                if oldest:
                    await self.redis.delete(*(k for k, _ in oldest))
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._worked()

    async def close(self) -> None:
        await self.redis.aclose()

    def _count(self, result: str) -> None:
        self.metrics.answer_cache_lookups.labels(result=result).inc()

    def _worked(self) -> None:
        if self.healthy is not True:
            self.healthy = True
            cfg = self.config
            event(
                BotEvent.ANSWER_CACHE_READY,
                redis=redis_address(cfg.url),
                ttl_s=cfg.ttl_seconds,
                max_entries=cfg.max_entries,
            )

    def _failed(self, exc: BaseException) -> None:
        if self.healthy is not False:
            self.healthy = False
            event(
                BotEvent.ANSWER_CACHE_UNAVAILABLE,
                WARNING,
                redis=redis_address(self.config.url),
                error=f"{type(exc).__name__}: {exc}",
                meanwhile="the engine answers every question",
            )


class CachedEngine:
    """An engine that asks the cache first; a miss is answered by `engine` and its answer stored."""

    def __init__(self, engine: AnswerEngine, cache: AnswerCache) -> None:
        self.engine = engine
        self.cache = cache
        self.name = engine.name

    def streams(self) -> bool:
        return self.engine.streams()

    async def generate(self, text: str) -> AsyncIterator[str]:
        cached = await self.cache.get(text)
        if cached is not None:
            yield cached  # the whole answer at once: no engine time
            return
        pieces: list[str] = []
        async for piece in self.engine.generate(text):
            pieces.append(piece)
            yield piece
        await self.cache.put(text, "".join(pieces))  # only a complete answer is stored

    async def close(self) -> None:
        await self.cache.close()
        await self.engine.close()
