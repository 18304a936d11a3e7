"""Bounded memory for week-long runs: a final message's record leaves memory, its id is remembered for
`final_memory_s` (late and duplicate answers told apart), and after that an answer naming it is counted
as forgotten, never credited to another message. Finished cards are forgotten after the same window.
Time passes by stepping the emulator's clock."""

import json

import aiohttp
import pytest

from tests.platform.helpers import Bot, SteppedClock, User, async_test, poll, server

pytestmark = pytest.mark.integration

WINDOW = {"reply_timeout_s": 30, "final_memory_s": 60}


async def _post(http: aiohttp.ClientSession, webhook: str) -> None:
    async with http.post(webhook, json={"msgtype": "text", "text": {"content": "again"}}) as r:
        assert r.status == 200, await r.text()


@async_test
async def test_a_replied_message_leaves_memory_after_its_window_and_a_later_answer_is_forgotten():
    clock = SteppedClock()
    async with server(clock=clock, **WINDOW) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send(conversation="c")
        frame = await bot.frame("CALLBACK")
        await bot.ack(frame)
        webhook = json.loads(frame["data"])["sessionWebhook"]
        await _post(http, webhook)
        await user.expect("reply")
        assert srv.ledger.records == {} and srv.ledger.remembered_final == 1
        await _post(http, webhook)  # inside the window: a duplicate
        assert srv.ledger.counts["duplicate_replies"] == 1
        clock.step(61)
        await poll(lambda: srv.ledger.remembered_final == 0)  # the timer sweep forgets it
        await user.send(conversation="c")  # a pending message of the same conversation
        pending = await bot.frame("CALLBACK")
        await bot.ack(pending)
        await _post(http, webhook)  # the first message again, after the window
        counts = srv.summary()["messages"]
        assert (counts["forgotten_replies"], counts["duplicate_replies"], counts["late_replies"]) == (1, 1, 0)
        assert (counts["sent"], counts["replied"], counts["pending"]) == (2, 1, 1)  # not credited to the second
        assert srv.ledger.get(json.loads(pending["data"])["msgId"]) is not None


@async_test
async def test_a_lost_message_answered_inside_its_window_is_late_and_after_it_forgotten():
    clock = SteppedClock()
    async with server(clock=clock, **WINDOW) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        for _ in range(2):
            await user.send()
        frames = [await bot.frame("CALLBACK") for _ in range(2)]
        for frame in frames:
            await bot.ack(frame)
        clock.step(31)
        await poll(lambda: srv.ledger.counts["lost"] == 2)
        await _post(http, json.loads(frames[0]["data"])["sessionWebhook"])  # 31 s after going final: late
        clock.step(60)
        await poll(lambda: srv.ledger.remembered_final == 0)
        await _post(http, json.loads(frames[1]["data"])["sessionWebhook"])  # 91 s after: forgotten
        summary = srv.summary()
        assert (summary["messages"]["late_replies"], summary["messages"]["forgotten_replies"]) == (1, 1)
        assert summary["late_replies_by_stage"]["no_reply"] == 1
        assert (summary["messages"]["lost"], summary["messages"]["replied"]) == (2, 0)


@async_test
async def test_a_card_takes_its_finish_inside_the_window_and_is_forgotten_after_it():
    clock = SteppedClock()
    async with server(clock=clock, **WINDOW) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        headers = {"x-acs-dingtalk-access-token": await bot.token(srv.url)}

        async def answer_by_card() -> tuple[str, int]:
            """Create, finalize the stream, then finish the card (the SDK's AI card sequence)."""
            await user.send(conversation="g")
            frame = await bot.frame("CALLBACK")
            await bot.ack(frame)
            msg_id = json.loads(frame["data"])["msgId"]
            card = {"outTrackId": msg_id, "cardTemplateId": "t", "openSpaceId": "dtv1.card//IM_GROUP.g"}
            async with http.post(f"{srv.url}/v1.0/card/instances/createAndDeliver", json=card, headers=headers) as r:
                assert r.status == 200, await r.text()
            stream = {"outTrackId": msg_id, "guid": "1", "key": "content", "content": "hi", "isFinalize": True}
            async with http.put(f"{srv.url}/v1.0/card/streaming", json=stream, headers=headers) as r:
                assert r.status == 200, await r.text()
            await user.expect("reply")
            return msg_id, await finish(msg_id)

        async def finish(msg_id: str) -> int:
            body = {"outTrackId": msg_id, "cardData": {"cardParamMap": {"flowStatus": "3", "msgContent": "hi"}}}
            async with http.put(f"{srv.url}/v1.0/card/instances", json=body, headers=headers) as r:
                return r.status

        first, status = await answer_by_card()
        assert status == 200  # finish after finalize: an update of the answered card
        clock.step(89)  # a card lives the window after the later of its finish and its message's timeout
        assert await finish(first) == 200  # still inside: 30 s timeout + 60 s window
        clock.step(2)
        _, status = await answer_by_card()  # a new card sweeps the ones whose window is over
        assert status == 200 and list(srv.cards.cards) != [] and first not in srv.cards.cards
        assert await finish(first) == 404
        counts = srv.summary()["messages"]
        assert (counts["replied"], counts["duplicate_replies"], counts["forgotten_replies"]) == (2, 0, 0)
