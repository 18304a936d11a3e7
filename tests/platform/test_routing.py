"""Routing over an app's connections (active-active / active-standby), takeover when the serving
connection goes, and incidents: the messages a faulted connection held, followed to their fates.

Timeouts are passed by stepping the emulator's clock; with ACK and reply timeouts of 30 s and more,
nothing expires before the test steps, so a redelivery seen without a step came from the close."""

import asyncio
import json

import aiohttp
import pytest

from tests.platform.helpers import Bot, SteppedClock, User, async_test, poll, server

pytestmark = pytest.mark.integration


async def reply(http: aiohttp.ClientSession, frame: dict) -> None:
    webhook = json.loads(frame["data"])["sessionWebhook"]
    async with http.post(webhook, json={"msgtype": "text", "text": {"content": "answer"}}) as r:
        assert r.status == 200, await r.text()


async def no_callback(bot: Bot) -> bool:
    try:
        await bot.frame("CALLBACK", timeout=0.3)
    except asyncio.TimeoutError:
        return True
    return False


async def status(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(f"{url}/admin/status") as r:
        return await r.json()


@async_test
async def test_active_standby_sends_everything_to_the_oldest_connection_and_the_admin_api_switches():
    async with server(routing="active-standby") as srv, aiohttp.ClientSession() as http:
        first, second = await Bot.connect(http, srv.url), await Bot.connect(http, srv.url)
        user = await User.connect(http, srv.url)
        for _ in range(10):
            await user.send()
        for _ in range(10):
            await first.ack(await first.frame("CALLBACK"))
        assert await no_callback(second)
        shown = await status(http, srv.url)
        assert shown["routing"] == "active-standby"
        assert [c["serving"] for c in sorted(shown["connections"], key=lambda c: c["order"])] == [True, False]
        assert [c["pushes"] for c in sorted(shown["connections"], key=lambda c: c["order"])] == [10, 0]
        async with http.post(f"{srv.url}/admin/routing", json={"mode": "hot"}) as r:
            assert (
                r.status == 400 and "mode must be one of active-active, active-standby" in (await r.json())["message"]
            )
        async with http.post(f"{srv.url}/admin/routing", json={"mode": "active-active"}) as r:
            assert (await r.json()) == {"routing": "active-active"}
        for _ in range(30):
            await user.send()
        await poll(lambda: srv.ledger.counts["pushed"] == 40)
        assert srv.gateway.connections[shown["connections"][1]["id"]].pushes > 0  # random now: 30 coin flips


@async_test
async def test_standby_takes_over_at_once_when_the_serving_connection_closes_unacked():
    clock = SteppedClock()
    async with (
        server(routing="active-standby", ack_timeout_s=30, reply_timeout_s=60, clock=clock) as srv,
        aiohttp.ClientSession() as http,
    ):
        first, second = await Bot.connect(http, srv.url), await Bot.connect(http, srv.url)
        user = await User.connect(http, srv.url)
        await user.send()
        held = await first.frame("CALLBACK")  # pushed, not ACKed: in flight on the serving connection
        async with http.post(f"{srv.url}/admin/incidents", json={"label": "kill serving"}) as r:
            opened = await r.json()
        assert opened["in_flight"] == 1 and opened["connection"] == held["headers"]["connectionId"]
        await first.ws.close()
        again = await second.frame("CALLBACK")  # no clock step: redelivered because the socket went
        assert json.loads(again["data"])["msgId"] == json.loads(held["data"])["msgId"]
        await second.ack(again)
        await reply(http, again)
        await user.send()  # the standby serves now
        await second.ack(await second.frame("CALLBACK"))
        await poll(lambda: srv.ledger.counts["acked"] == 2)
        [incident] = srv.summary()["incidents"]
        assert incident["label"] == "kill serving" and incident["connection_closed_at"] is not None
        assert incident["in_flight"] == {
            "count": 1,
            "fates": {"replied": 0, "redelivered_replied": 1, "late": 0, "lost": 0, "pending": 0},
        }
        assert incident["recovered_at"] is not None
        assert incident["sent_during"]["count"] == 1 and incident["sent_during"]["fates"]["pending"] == 1
        assert incident["messages"][0]["connections"] == [opened["connection"], again["headers"]["connectionId"]]


@async_test
async def test_an_ack_timeout_redelivers_to_another_connection_when_there_is_one():
    clock = SteppedClock()
    async with (
        server(routing="active-standby", ack_timeout_s=30, reply_timeout_s=300, clock=clock) as srv,
        aiohttp.ClientSession() as http,
    ):
        hung, standby = await Bot.connect(http, srv.url), await Bot.connect(http, srv.url)
        user = await User.connect(http, srv.url)
        await user.send()
        first = await hung.frame("CALLBACK")  # a hung process: the socket stays, nothing is ACKed
        clock.step(31)
        second = await standby.frame("CALLBACK")
        assert json.loads(first["data"])["msgId"] == json.loads(second["data"])["msgId"]
        assert await no_callback(hung)


@async_test
async def test_an_incident_counts_acked_unanswered_messages_lost_then_late_and_duplicates():
    clock = SteppedClock()
    async with (
        server(routing="active-standby", reply_timeout_s=30, clock=clock) as srv,
        aiohttp.ClientSession() as http,
    ):
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        for _ in range(2):
            await user.send()
        frames = [await bot.frame("CALLBACK") for _ in range(2)]
        for frame in frames:
            await bot.ack(frame)  # taken in, then the process dies before answering the first
        await poll(lambda: srv.ledger.counts["acked"] == 2)
        async with http.post(f"{srv.url}/admin/incidents", json={"label": "kill"}) as r:
            assert (await r.json())["in_flight"] == 2
        await reply(http, frames[1])
        await reply(http, frames[1])  # answered twice
        await bot.ws.close()
        clock.step(31)  # the reply timeout of the first
        await poll(lambda: srv.ledger.counts["lost"] == 1)
        await reply(http, frames[0])  # after all, late
        [incident] = srv.summary()["incidents"]
        assert incident["in_flight"]["fates"] == {
            "replied": 1,
            "redelivered_replied": 0,
            "late": 1,
            "lost": 0,
            "pending": 0,
        }
        assert incident["duplicate_replies"] == 1
        assert incident["recovered_at"] is None  # no reply came through another connection
        async with http.post(f"{srv.url}/admin/incidents", json={"connection": "nope"}) as r:
            assert r.status == 404
        async with http.post(f"{srv.url}/admin/incidents", json={"label": 3}) as r:
            assert r.status == 400
