"""Connection faults against the real emulator: drops, `disconnect`, refused connections.

Delays are checked against the pure backoff schedule the bot records, never by timing sleeps.
"""

import asyncio

import aiohttp
import pytest

from harness.platform import PlatformServer
from reference_bot.backoff import backoff_bounds
from reference_bot.bot import ReferenceBot
from tests.bot.helpers import DEADLINE, User, async_test, bot_config, platform_settings, running, secrets, wait_for

pytestmark = pytest.mark.integration


async def send_all(user: User, texts: list[str]) -> list[str]:
    return [await user.send(text) for text in texts]


async def replies(user: User, ids: list[str]) -> list[dict]:
    return [(await user.until(cid))[-1] for cid in ids]


@async_test
async def test_dropped_connection_is_reconnected_and_nothing_is_lost():
    async with running() as (srv, bot), User.connect(srv.url) as user:
        for conn in list(srv.gateway.connections.values()):
            await conn.outbox.ws.close()
        ids = await send_all(user, [f"question {i}" for i in range(10)])
        assert all(r["type"] == "reply" for r in await replies(user, ids))
        assert bot.metrics.value("chatbot_stream_reconnects_total", reason="closed") == 1
        assert bot.stream.history[-1] == {"reason": "closed", "attempt": 1, "delay_s": 0.05}
        ledger = srv.summary()["messages"]
        assert (ledger["replied"], ledger["lost"]) == (10, 0)


@async_test
async def test_disconnect_opens_the_new_connection_before_the_old_one_closes():
    async with running(platform={"disconnect_grace_s": 1.5}) as (srv, bot), User.connect(srv.url) as user:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{srv.url}/admin/actions/disconnect", json={"all": True}) as resp,
        ):
            assert resp.status == 200
        await wait_for(lambda: len(bot.stream.live) == 2, "old and new connection open together")
        ids = await send_all(user, [f"during the move {i}" for i in range(10)])
        await wait_for(lambda: len(bot.stream.live) == 1, "the old connection retired")
        ids += await send_all(user, [f"after the move {i}" for i in range(5)])
        assert all(r["type"] == "reply" for r in await replies(user, ids))
        assert bot.metrics.value("chatbot_stream_reconnects_total", reason="disconnect") == 1
        assert bot.metrics.value("chatbot_stream_connected") == 1
        ledger = srv.summary()
        assert (ledger["messages"]["replied"], ledger["messages"]["lost"]) == (15, 0)
        assert ledger["connections"]["opened"] == 2


@async_test
async def test_disconnect_storm_loses_nothing():
    async with (
        running(faults={"disconnect_every_s": 0.4}, platform={"disconnect_grace_s": 0.3}) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        ids = []
        for i in range(400):  # keep talking until the storm has moved the bot at least twice
            ids.append(await user.send(f"storm {i}"))
            if bot.metrics.value("chatbot_stream_reconnects_total", reason="disconnect") >= 2 and len(ids) >= 20:
                break
            await asyncio.sleep(0.05)  # pacing the sends, not synchronisation
        assert all(r["type"] == "reply" for r in await replies(user, ids))
        assert bot.metrics.value("chatbot_stream_reconnects_total", reason="disconnect") >= 2
        ledger = srv.summary()["messages"]
        assert (ledger["replied"], ledger["lost"]) == (len(ids), 0)


@async_test
async def test_refused_connections_back_off_on_schedule_then_recover():
    jitter = 0.5
    first = PlatformServer(platform_settings())
    await first.start()
    port = int(first.url.rsplit(":", 1)[1])
    bot = ReferenceBot(bot_config(first.url, reconnect__jitter=jitter, reconnect__stable_after_seconds=0.5), secrets())
    await bot.start()
    try:
        await asyncio.wait_for(bot.stream.connected_event.wait(), DEADLINE)
        await first.stop()  # from now on connections are refused
        await wait_for(lambda: len(bot.stream.history) >= 6, "six reconnect attempts")
        history = list(bot.stream.history)[:6]
        assert history[0]["reason"] == "closed"
        assert all(h["reason"] == "open_failed" for h in history[1:])
        for n, h in enumerate(history):
            assert h["attempt"] == n + 1
            low, high = backoff_bounds(n, initial=0.05, factor=2.0, cap=0.4, jitter=jitter)
            assert low - 1e-4 <= h["delay_s"] <= high + 1e-4, (n, h)
        assert history[5]["delay_s"] >= 0.2  # capped at 0.4, minus at most half of it as jitter
        second = PlatformServer(platform_settings(port=port))
        await second.start()
        try:
            await asyncio.wait_for(bot.stream.connected_event.wait(), DEADLINE)
            async with User.connect(second.url) as user:
                assert (await user.until(await user.send("/test")))[-1]["type"] == "reply"
            await asyncio.sleep(0.6)  # stay up past stable_after_seconds (the condition under test is elapsed time)
            for conn in list(second.gateway.connections.values()):
                await conn.outbox.ws.close()
            await wait_for(lambda: bot.stream.history[-1]["reason"] == "closed", "the drop recorded")
            assert bot.stream.history[-1]["attempt"] == 1  # a stable connection resets the backoff
        finally:
            await second.stop()
    finally:
        await bot.stop()
    assert bot.metrics.value("chatbot_stream_reconnects_total", reason="open_failed") >= 5


@async_test
async def test_after_answer_acks_once_answered_so_a_bot_that_dies_holding_a_message_has_it_redelivered():
    slow = {"engine__reply_tokens": 10, "engine__tokens_per_second": 10.0}  # about a second per answer
    async with running(buffer__ack="after_answer", **slow) as (srv, _bot), User.connect(srv.url) as user:
        await user.until(await user.send("a question"))
        await wait_for(lambda: srv.ledger.counts["acked"] == 1, "the ACK after the answer")
        assert srv.summary()["latency"]["ack"]["p50_s"] >= 0.8  # push -> ACK spans the answer
        other = ReferenceBot(bot_config(srv.url, buffer__ack="after_answer", **slow), secrets())
        await other.start()
        try:
            await asyncio.wait_for(other.stream.connected_event.wait(), DEADLINE)
            srv.gateway.set_routing("active-standby")  # the first bot serves, the other stands by
            client = await user.send("another question")
            await wait_for(lambda: srv.ledger.counts["pushed"] == 2, "the push to the serving bot")
            await _bot.stream.stop()  # the serving bot goes, holding the message unACKed
            reply = (await user.until(client))[-1]
            assert reply["type"] == "reply"
            messages = srv.summary()["messages"]
            assert (messages["redelivered"], messages["replied"], messages["lost"]) == (1, 2, 0)
        finally:
            await other.stop(drain_seconds=2.0)
