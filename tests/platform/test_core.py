import json

import aiohttp
import pytest

from harness.core.histograms import decode
from tests.platform.helpers import APP, Bot, User, async_test, poll, server

pytestmark = pytest.mark.integration


@async_test
async def test_message_round_trip_via_session_webhook():
    async with server() as srv, aiohttp.ClientSession() as http:
        bot = await Bot.connect(http, srv.url)
        user = await User.connect(http, srv.url)
        cmid = await user.send("hi there")
        accepted = await user.expect("accepted")
        frame = await bot.frame("CALLBACK")
        assert frame["specVersion"] == "1.0"
        assert frame["headers"]["topic"] == "/v1.0/im/bot/messages/get"
        assert all(isinstance(v, str) for v in frame["headers"].values())
        assert isinstance(frame["data"], str)
        data = json.loads(frame["data"])
        assert data["msgId"] == accepted["msgId"]
        assert data["text"]["content"] == "hi there"
        assert data["sessionWebhook"].startswith(srv.url + "/")
        await bot.ack(frame)
        async with http.post(data["sessionWebhook"], json={"msgtype": "text", "text": {"content": "yo"}}) as r:
            assert r.status == 200 and (await r.json())["errcode"] == 0
        reply = await user.expect("reply")
        assert reply == {
            "type": "reply",
            "clientMsgId": cmid,
            "msgId": data["msgId"],
            "via": "sessionWebhook",
            "msgtype": "text",
            "content": "yo",
        }
        await poll(lambda: srv.ledger.counts["acked"] == 1)
        messages = srv.summary()["messages"]
        assert messages["sent"] == messages["pushed"] == messages["replied"] == 1
        assert messages["pending"] == 0 and messages["lost"] == 0
        assert srv.summary()["connections"]["current"] == 1
        assert frame["headers"]["appId"] == APP


async def _card_reply(http, srv, bot, user, space_of):
    await user.send("stream me", conversation="cid-9")
    frame = await bot.frame("CALLBACK")
    data = json.loads(frame["data"])
    await bot.ack(frame)
    headers = {"x-acs-dingtalk-access-token": await bot.token(srv.url)}
    create = {
        "cardTemplateId": "tpl",
        "outTrackId": "card-1",
        "openSpaceId": space_of(data),
        "cardData": {"cardParamMap": {}},
    }
    async with http.post(f"{srv.url}/v1.0/card/instances/createAndDeliver", json=create, headers=headers) as r:
        assert r.status == 200, await r.text()
    for i, piece in enumerate(["Hel", "lo"]):
        body = {
            "outTrackId": "card-1",
            "guid": str(i),
            "key": "content",
            "content": piece,
            "isFull": False,
            "isFinalize": False,
            "isError": False,
        }
        async with http.put(f"{srv.url}/v1.0/card/streaming", json=body, headers=headers) as r:
            assert r.status == 200, await r.text()
    chunks = [await user.expect("chunk"), await user.expect("chunk")]
    assert [c["content"] for c in chunks] == ["Hel", "Hello"] and [c["seq"] for c in chunks] == [1, 2]
    body = {
        "outTrackId": "card-1",
        "guid": "z",
        "key": "content",
        "content": "Hello!",
        "isFull": True,
        "isFinalize": True,
        "isError": False,
    }
    async with http.put(f"{srv.url}/v1.0/card/streaming", json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
    final = await user.expect("reply")
    assert final["via"] == "card" and final["content"] == "Hello!" and final["msgId"] == data["msgId"]
    messages = srv.summary()["messages"]
    assert messages["first_chunk"] == 1 and messages["replied"] == 1


@async_test
async def test_card_streaming_one_to_one_found_by_sender():
    async with server() as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await _card_reply(http, srv, bot, user, lambda d: f"dtv1.card//IM_ROBOT.{d['senderStaffId']}")


@async_test
async def test_card_streaming_group_found_by_conversation():
    async with server() as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await _card_reply(http, srv, bot, user, lambda d: f"dtv1.card//IM_GROUP.{d['conversationId']}")


@async_test
async def test_ping_is_acked_and_admin_endpoints_answer():
    async with server(ping_interval_s=0.2) as srv, aiohttp.ClientSession() as http:
        async with http.get(f"{srv.url}/metrics") as r:
            assert f'platform_connections{{app="{APP}"}} 0.0' in await r.text()
        bot = await Bot.connect(http, srv.url)
        ping = await bot.frame("SYSTEM")
        assert ping["headers"]["topic"] == "ping" and "opaque" in json.loads(ping["data"])
        await bot.ack(ping, data=json.loads(ping["data"]))
        async with http.get(f"{srv.url}/healthz") as r:
            assert r.status == 200
        async with http.get(f"{srv.url}/metrics") as r:
            text = await r.text()
        assert f'platform_connections{{app="{APP}"}} 1.0' in text
        assert 'platform_messages_total{stage="sent"} 0.0' in text
        async with http.get(f"{srv.url}/admin/ledger") as r:
            ledger = await r.json()
        assert set(ledger) >= {
            "generated_at",
            "reply_timeout_s",
            "messages",
            "lost_by_stage",
            "api_responses",
            "login_failures",
            "connections",
            "lost_sample",
        }
        assert ledger["bad_input"].get("unknown_ack", 0) == 0


@async_test
async def test_no_per_message_state_is_left_once_messages_are_final():
    async with server(ack_timeout_s=0.2) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        for i in range(30):
            await user.send(conversation=f"c{i % 3}")
        for _ in range(30):
            frame = await bot.frame("CALLBACK")
            await bot.ack(frame)
            hook = json.loads(frame["data"])["sessionWebhook"]
            async with http.post(hook, json={"msgtype": "markdown", "markdown": {"title": "t", "text": "x"}}) as r:
                assert r.status == 200
        await poll(lambda: srv.ledger.counts["replied"] == 30 and not srv.gateway.in_flight)
        assert not srv.ledger.records and not srv.ledger._by_conversation and not srv.gateway.waiting
        assert srv.summary()["messages"]["pending"] == 0


@async_test
async def test_oversize_user_frame_closes_with_1009():
    async with server(max_payload_bytes=1024) as srv, aiohttp.ClientSession() as http:
        user = await User.connect(http, srv.url)
        await user.ws.send_str(json.dumps({"clientMsgId": "a", "conversationId": "c", "text": "x" * 2000}))
        closing = await user.ws.receive(timeout=20)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and user.ws.close_code == 1009
        await poll(lambda: srv.summary()["bad_input"].get("oversize_frame") == 1)


@async_test
async def test_ledger_histograms_say_where_the_time_went():
    async with server() as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        frame = await bot.frame("CALLBACK")
        await bot.ack(frame)
        await http.post(json.loads(frame["data"])["sessionWebhook"], json={"msgtype": "text", "text": {"content": "x"}})
        await poll(lambda: srv.ledger.counts["replied"] == 1)
        latency = srv.summary()["latency"]
        assert {name: part["count"] for name, part in latency.items()} == {
            "push": 1,
            "ack": 1,
            "first_chunk": 1,
            "reply": 1,
            "late_reply": 0,
        }
        assert decode(latency["reply"]["hist"]).get_total_count() == 1
        assert 0 < latency["reply"]["p99_s"] < 20


@async_test
async def test_public_url_is_what_clients_are_given():
    async with server(public_url="http://platform.example:8443") as srv, aiohttp.ClientSession() as http:
        body = {"clientId": APP, "clientSecret": "s3cret-test"}
        async with http.post(f"http://127.0.0.1:{srv.port}/v1.0/gateway/connections/open", json=body) as r:
            assert (await r.json())["endpoint"] == "ws://platform.example:8443/connect"


@async_test
async def test_scraped_stage_counts_and_open_api_answers_equal_the_ledger():
    async with server() as srv, aiohttp.ClientSession() as http:
        bot = await Bot.connect(http, srv.url)
        user = await User.connect(http, srv.url)
        for n in range(3):
            await user.send(f"q{n}", conversation=f"c{n}")
            frame = await bot.frame("CALLBACK")
            await bot.ack(frame)
            hook = json.loads(frame["data"])["sessionWebhook"]
            async with http.post(hook, json={"msgtype": "text", "text": {"content": "a"}}) as r:
                assert r.status == 200
            await user.expect("reply")
        async with http.post(hook, json={"msgtype": "bogus"}) as r:  # a refused answer counts under its code
            assert r.status == 400
        async with http.get(f"{srv.url}/metrics") as r:
            text = await r.text()
        messages = srv.summary()["messages"]
        for stage in ("sent", "pushed", "acked", "first_chunk", "replied", "lost"):
            assert f'platform_messages_total{{stage="{stage}"}} {float(messages[stage])}' in text
        assert messages["replied"] == 3
        assert 'platform_api_responses_total{api="session_webhook",code="",status="200"} 3.0' in text
        assert (
            'platform_api_responses_total{api="session_webhook",code="InvalidParameter.Msgtype",status="400"} 1.0'
            in text
        )
        assert "platform_messages_created" in text
