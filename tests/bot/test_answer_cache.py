"""The answer cache on a real Redis: keys, TTL, size, hits and misses, and a Redis that is not there."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from harness.core import procs
from harness.core.contract import BotEvent
from harness.run.sampler import scrape_bot
from reference_bot import __version__
from reference_bot.answer_cache import AnswerCache, normalise
from reference_bot.config import parse_config
from reference_bot.metrics import BotMetrics
from tests.bot.helpers import User, async_test, running
from tests.redis_server import redis_server
from tests.tools import needs_tool

pytestmark = pytest.mark.integration

needs_redis = needs_tool("redis-server")


def cache_for(url: str, **fields: object) -> tuple[AnswerCache, BotMetrics]:
    metrics = BotMetrics(__version__, 10)
    config = parse_config({"answer_cache": {"enabled": True, "url": url, **fields}}).answer_cache
    return AnswerCache(config, metrics, password=""), metrics


def lookups(metrics: BotMetrics) -> dict[str, float]:
    return {r: metrics.value("chatbot_answer_cache_lookups_total", result=r) for r in ("hit", "miss", "error")}


def test_the_key_is_the_question_however_it_is_cased_spaced_or_punctuated():
    assert normalise("  How do I reset my VPN   password? ") == "how do i reset my vpn password"
    assert normalise("ＶＰＮ  password！") == "vpn password"  # full-width forms fold (NFKC)
    assert normalise("vpn password") != normalise("vpn passwords")


@needs_redis
@async_test
async def test_a_stored_answer_is_found_again_and_kept_for_its_ttl(tmp_path: Path):
    with redis_server(tmp_path) as url:
        cache, metrics = cache_for(url, ttl_seconds=30)
        try:
            assert await cache.check()
            assert await cache.get("Where is the VPN guide?") is None
            await cache.put("Where is the VPN guide?", "on the wiki")
            assert await cache.get("where is the vpn guide") == "on the wiki"
            assert lookups(metrics) == {"hit": 1, "miss": 1, "error": 0}
            ttl_ms = await cache.redis.pttl(cache.key("where is the vpn guide"))
            assert 25_000 < ttl_ms <= 30_000
        finally:
            await cache.close()


@needs_redis
@async_test
async def test_at_most_max_entries_answers_are_kept_the_oldest_go_first(tmp_path: Path):
    with redis_server(tmp_path) as url:
        cache, _ = cache_for(url, max_entries=3)
        try:
            for n in range(5):
                await cache.put(f"question {n}", f"answer {n}")
            kept = [await cache.get(f"question {n}") for n in range(5)]
            assert kept == [None, None, "answer 2", "answer 3", "answer 4"]
            assert await cache.redis.zcard(cache.index) == 3
        finally:
            await cache.close()


@async_test
async def test_without_redis_every_lookup_is_an_error_logged_once_and_the_caller_goes_on(caplog):
    caplog.set_level(logging.INFO, logger="reference_bot")
    cache, metrics = cache_for(f"redis://127.0.0.1:{procs.free_port()}/0")
    try:
        assert not await cache.check()
        assert await cache.get("anything") is None
        await cache.put("anything", "an answer")  # must not raise
        assert await cache.get("anything") is None
    finally:
        await cache.close()
    assert lookups(metrics) == {"hit": 0, "miss": 0, "error": 2}
    unavailable = [r for r in caplog.records if r.msg == BotEvent.ANSWER_CACHE_UNAVAILABLE]
    assert len(unavailable) == 1 and "127.0.0.1" in unavailable[0].fields["redis"]


@needs_redis
@async_test
async def test_the_bot_answers_a_repeated_question_from_the_cache_without_the_engine(tmp_path: Path):
    with redis_server(tmp_path) as url:
        engine_wait = 0.6
        async with (
            running(answer_cache__enabled=True, answer_cache__url=url, engine__first_token_seconds=engine_wait) as (
                srv,
                bot,
            ),
            User.connect(srv.url) as user,
        ):
            started = time.monotonic()
            first = (await user.until(await user.send("What is the status of my order?")))[-1]
            assert time.monotonic() - started >= engine_wait
            started = time.monotonic()
            again = (await user.until(await user.send("what is the status of my order"), timeout=30))[-1]
            assert time.monotonic() - started < engine_wait  # a lower bound held for the first answer only
            assert again["content"] == first["content"] and again["via"] == "card"
            assert lookups(bot.metrics) == {"hit": 1, "miss": 1, "error": 0}
            scrape = await asyncio.to_thread(scrape_bot, bot.admin_url + "/metrics")  # the harness sampler's view
            assert scrape is not None and scrape.answer_cache == {"hit": 1.0, "miss": 1.0, "error": 0.0}
