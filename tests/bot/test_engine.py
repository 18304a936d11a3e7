import asyncio
import time

import pytest

from reference_bot.config import parse_config
from reference_bot.engine import SimulatedEngine, simulate_token_compute

pytestmark = pytest.mark.unit


def engine(**engine_fields) -> SimulatedEngine:
    cfg = parse_config({"engine": {"first_token_seconds": 0, "tokens_per_second": 0, **engine_fields}})
    return SimulatedEngine(cfg.engine, cfg.nlp_engine)


async def collect(e: SimulatedEngine, text: str) -> list[str]:
    return [piece async for piece in e.generate(text)]


def test_answers_are_deterministic_chunked_and_capped_by_max_tokens():
    e = engine(reply_tokens=10, chunk_tokens=4)
    pieces = asyncio.run(collect(e, "a question"))
    assert len(pieces) == 3 and len("".join(pieces).split()) == 10
    assert pieces == asyncio.run(collect(e, "a question"))
    assert pieces != asyncio.run(collect(e, "another question"))
    capped = parse_config({"engine": {"reply_tokens": 900}, "nlp_engine": {"max_tokens": 7}})
    assert SimulatedEngine(capped.engine, capped.nlp_engine).reply_tokens == 7


def test_plain_text_or_card_follows_the_reply_length():
    assert engine(reply_tokens=5, plain_text_max_tokens=5).streams() is False
    assert engine(reply_tokens=6, plain_text_max_tokens=5).streams() is True


def test_cpu_cost_is_burnt_in_simulate_token_compute():
    before = time.thread_time()
    simulate_token_compute(0.05)
    assert time.thread_time() - before >= 0.05
    e = engine(reply_tokens=20, cpu_ms_per_token=2.0)
    before = time.thread_time()
    asyncio.run(collect(e, "burn"))
    assert time.thread_time() - before >= 20 * 0.002


def test_pacing_follows_time_to_first_token_and_tokens_per_second():
    e = engine(reply_tokens=10, chunk_tokens=5, first_token_seconds=0.1, tokens_per_second=50)
    start = time.monotonic()
    asyncio.run(collect(e, "paced"))
    assert time.monotonic() - start >= 0.1 + 10 / 50 - 0.01  # a lower bound: a loaded machine only adds time


def test_a_speed_factor_divides_the_engine_s_cpu_and_time_costs():
    e = engine(reply_tokens=20, cpu_ms_per_token=8.0, speed_factor=4.0)
    before = time.thread_time()
    asyncio.run(collect(e, "burn"))
    burnt = time.thread_time() - before
    assert 20 * 0.002 <= burnt < 20 * 0.008 / 2  # a quarter of the configured cost, not all of it
    paced = engine(reply_tokens=10, chunk_tokens=5, first_token_seconds=0.4, tokens_per_second=25, speed_factor=4.0)
    start = time.monotonic()
    asyncio.run(collect(paced, "paced"))
    assert time.monotonic() - start >= 0.1 + 10 / 100 - 0.01
