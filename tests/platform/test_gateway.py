"""Stream-side protocol: tickets, routing, ACK codes, redelivery, loss stages, disconnect, events, bad input.

Timeouts are passed by stepping the emulator's clock (SteppedClock), never by sleeping through them; with
timeouts of 30 s and more, nothing expires before the test steps."""

import asyncio
import json

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.platform.helpers import APP, DEADLINE, Bot, SteppedClock, User, async_test, poll, server

pytestmark = pytest.mark.integration


@async_test
async def test_bad_credentials_are_401_and_count_as_failed_logins():
    async with server() as srv, aiohttp.ClientSession() as http:
        body = {"clientId": APP, "clientSecret": "wrong", "subscriptions": []}
        async with http.post(f"{srv.url}/v1.0/gateway/connections/open", json=body) as r:
            assert r.status == 401
            err = await r.json()
        assert err["code"] == "InvalidAuthentication" and "clientSecret" in err["message"] and err["requestid"]
        assert srv.summary()["login_failures"]["gateway_open"] == 1
        async with http.get(f"{srv.url}/metrics") as r:
            assert 'platform_login_failures_total{api="gateway_open"} 1.0' in await r.text()


@async_test
async def test_ticket_is_single_use_and_expires():
    clock = SteppedClock()
    async with server(ticket_ttl_s=30, clock=clock) as srv, aiohttp.ClientSession() as http:
        body = {"clientId": APP, "clientSecret": "s3cret-test"}
        opened = [
            await (await http.post(f"{srv.url}/v1.0/gateway/connections/open", json=body)).json() for _ in range(2)
        ]
        first = await http.ws_connect(f"{opened[0]['endpoint']}?ticket={opened[0]['ticket']}")
        for ticket, why in ((opened[0]["ticket"], "already used"), ("nope", "unknown ticket"), ("", "no ticket")):
            async with http.get(f"{srv.url}/connect?ticket={ticket}") as r:
                assert r.status == 401 and why in (await r.json())["message"]
        clock.step(31)  # past the second ticket's 30 s lifetime
        async with http.get(f"{srv.url}/connect?ticket={opened[1]['ticket']}") as r:
            assert r.status == 401 and "expired" in (await r.json())["message"]
        await first.close()


@async_test
async def test_pushes_are_spread_over_an_apps_connections():
    async with server() as srv, aiohttp.ClientSession() as http:
        bots = [await Bot.connect(http, srv.url) for _ in range(2)]
        user = await User.connect(http, srv.url)
        for _ in range(40):
            await user.send()
        await poll(lambda: srv.ledger.counts["pushed"] == 40)
        per_connection = {}
        for index, bot in enumerate(bots):
            count = 0
            while True:
                try:
                    await bot.frame("CALLBACK", timeout=0.5)
                except asyncio.TimeoutError:
                    break
                count += 1
            per_connection[index] = count
        assert sum(per_connection.values()) == 40
        assert min(per_connection.values()) >= 5, per_connection  # random: 40 coin flips, >= 5 each


@async_test
async def test_unacked_message_is_redelivered_with_same_msg_id():
    clock = SteppedClock()
    async with server(ack_timeout_s=30, reply_timeout_s=300, clock=clock) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        first = await bot.frame("CALLBACK")  # not ACKed
        assert srv.ledger.counts["redelivered"] == 0
        clock.step(31)  # the ACK timeout
        second = await bot.frame("CALLBACK")
        assert json.loads(first["data"])["msgId"] == json.loads(second["data"])["msgId"]
        assert first["headers"]["messageId"] != second["headers"]["messageId"]
        await bot.ack(second)
        data = json.loads(second["data"])
        for _ in range(2):  # a bot that does not de-duplicate answers twice
            await http.post(data["sessionWebhook"], json={"msgtype": "text", "text": {"content": "x"}})
        await poll(lambda: srv.ledger.counts["duplicate_replies"] == 1)
        messages = srv.summary()["messages"]
        assert messages["duplicate_replies_redelivered"] == 1  # pushed twice: the duplicate is explained
        assert messages["redelivered"] == 1 and messages["acked"] == 1 and messages["replied"] == 1
        await bot.ack(first)  # the first delivery's ACK, after its timeout fired: late, not bad input
        await poll(lambda: srv.ledger.counts["late_acks"] == 1)
        assert "unknown_ack" not in srv.summary()["bad_input"]


@async_test
async def test_a_message_pushed_once_and_answered_twice_is_an_unexplained_duplicate():
    async with server() as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        frame = await bot.frame("CALLBACK")
        await bot.ack(frame)
        for _ in range(2):
            await http.post(
                json.loads(frame["data"])["sessionWebhook"], json={"msgtype": "text", "text": {"content": "x"}}
            )
        await poll(lambda: srv.ledger.counts["duplicate_replies"] == 1)
        messages = srv.summary()["messages"]
        assert (
            messages["redelivered"] == 0 and messages["duplicate_replies_redelivered"] == 0
        )  # no redelivery explains it


@async_test
async def test_ack_codes_500_redelivers_404_does_not_and_loss_says_why():
    clock = SteppedClock()
    async with server(reply_timeout_s=30, clock=clock) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        frame = await bot.frame("CALLBACK")
        await bot.ack(frame, code=500)
        again = await bot.frame("CALLBACK")
        await bot.ack(again, code=404)
        await poll(lambda: srv.ledger.counts["acked"] == 0 and not srv.gateway.in_flight)  # the 404 arrived
        clock.step(31)  # the reply timeout
        await poll(lambda: srv.ledger.counts["lost"] == 1)
        summary = srv.summary()
        assert summary["messages"]["redelivered"] == 1 and summary["lost_by_stage"]["not_acked"] == 1
        lost = summary["lost_sample"][0]
        assert lost["stage"] == "not_acked" and "code 404" in lost["reason"] and lost["deliveries"] == 2


@async_test
async def test_redeliveries_are_bounded_then_lost_not_acked():
    clock = SteppedClock()
    async with (
        server(ack_timeout_s=30, redeliver_max=2, reply_timeout_s=300, clock=clock) as srv,
        aiohttp.ClientSession() as http,
    ):
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        await bot.frame("CALLBACK")
        for redelivery in (1, 2, 3):  # each ACK timeout: two redeliveries, then none
            clock.step(31)
            if redelivery < 3:
                await bot.frame("CALLBACK")
        await poll(lambda: not srv.gateway.in_flight)  # the third ACK timeout passed without a redelivery
        assert srv.ledger.counts["lost"] == 0
        clock.step(300)  # the reply timeout
        await poll(lambda: srv.ledger.counts["lost"] == 1)
        assert srv.ledger.counts["redelivered"] == 2
        assert srv.summary()["lost_sample"][0]["deliveries"] == 3


@async_test
async def test_message_waits_for_a_connection_or_is_lost_not_pushed():
    clock = SteppedClock()
    async with server(reply_timeout_s=30, clock=clock) as srv, aiohttp.ClientSession() as http:
        user = await User.connect(http, srv.url)
        await user.send(conversation="early")
        await poll(lambda: srv.ledger.counts["sent"] == 1)
        clock.step(31)
        await poll(lambda: srv.ledger.counts["lost"] == 1)
        assert srv.summary()["lost_by_stage"]["not_pushed"] == 1
        await user.send(conversation="later")
        bot = await Bot.connect(http, srv.url)
        frame = await bot.frame("CALLBACK")
        assert json.loads(frame["data"])["conversationId"] == "later"


@async_test
async def test_acked_without_reply_is_lost_no_reply_and_late_reply_is_counted():
    clock = SteppedClock()
    async with server(reply_timeout_s=30, clock=clock) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        frame = await bot.frame("CALLBACK")
        await bot.ack(frame)
        await poll(lambda: srv.ledger.counts["acked"] == 1)
        clock.step(31)
        await poll(lambda: srv.ledger.counts["lost"] == 1)
        assert srv.summary()["lost_by_stage"]["no_reply"] == 1
        clock.step(4)
        webhook = json.loads(frame["data"])["sessionWebhook"]
        for _ in range(2):  # answered late, twice: two late replies, one message answered late
            await http.post(webhook, json={"msgtype": "text", "text": {"content": "x"}})
        summary = srv.summary()
        assert summary["messages"]["late_replies"] == 2
        assert summary["late_replies_by_stage"] == {"not_pushed": 0, "not_acked": 0, "no_reply": 1, "reply_rejected": 0}
        late = summary["latency"]["late_reply"]
        assert late["count"] == 1 and 34.9 <= late["p50_s"] <= 35.1  # sent -> the late answer, on the stepped clock


@async_test
async def test_disconnect_stops_pushes_then_closes_after_grace():
    clock = SteppedClock()
    async with server(disconnect_grace_s=30, clock=clock) as srv, aiohttp.ClientSession() as http:
        old = await Bot.connect(http, srv.url)
        async with http.post(f"{srv.url}/admin/actions/disconnect", json={"app": APP, "reason": "rebalance"}) as r:
            assert (await r.json())["disconnected"] == 1
        notice = await old.frame("SYSTEM")
        assert notice["headers"]["topic"] == "disconnect" and json.loads(notice["data"])["reason"] == "rebalance"
        await old.ack(notice)  # as the official SDK does; not an unknown ACK
        new = await Bot.connect(http, srv.url)  # make-before-break
        user = await User.connect(http, srv.url)
        await user.send()
        await new.frame("CALLBACK")
        assert not old.ws.closed  # still inside its grace period
        clock.step(31)
        closing = await asyncio.wait_for(old.ws.receive(), 10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await poll(lambda: srv.ledger.connections["current"] == 1)
        assert "unknown_ack" not in srv.summary()["bad_input"]
        async with http.post(f"{srv.url}/admin/actions/disconnect", json={"app": "nope"}) as r:
            assert r.status == 400 and "app" in (await r.json())["message"]


@async_test
async def test_abrupt_disconnect_drops_the_socket_without_a_close_frame_and_redelivers():
    clock = SteppedClock()
    async with server(ack_timeout_s=30, reply_timeout_s=300, clock=clock) as srv, aiohttp.ClientSession() as http:
        old, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        pushed = await old.frame("CALLBACK")  # never ACKed: the socket goes first
        async with http.post(f"{srv.url}/admin/actions/disconnect", json={"all": True, "kind": "abrupt"}) as r:
            assert (await r.json())["disconnected"] == 1
        ended = await asyncio.wait_for(old.ws.receive(), DEADLINE)
        assert ended.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)  # no CLOSE frame
        assert old.ws.close_code != 1000
        await poll(lambda: srv.ledger.connections["current"] == 0)
        new = await Bot.connect(http, srv.url)
        clock.step(31)  # the ACK timeout of the delivery that died with the socket
        again = await new.frame("CALLBACK")
        assert json.loads(again["data"])["msgId"] == json.loads(pushed["data"])["msgId"]
        async with http.post(f"{srv.url}/admin/actions/disconnect", json={"all": True, "kind": "gentle"}) as r:
            assert r.status == 400 and "kind" in (await r.json())["message"]


@async_test
async def test_hung_connection_stops_reading_and_writing_until_the_dead_peer_check_closes_it():
    clock = SteppedClock()
    async with (
        server(ping_interval_s=10, ping_miss_limit=2, ack_timeout_s=30, clock=clock) as srv,
        aiohttp.ClientSession() as http,
    ):
        hung = await Bot.connect(http, srv.url, autoping=False)
        await hung.ws.ping(b"before")
        pong = await asyncio.wait_for(hung.ws.receive(), DEADLINE)
        assert pong.type == aiohttp.WSMsgType.PONG  # answered while the server reads
        async with http.post(f"{srv.url}/admin/actions/disconnect", json={"all": True, "kind": "hang"}) as r:
            assert (await r.json())["disconnected"] == 1
        assert srv.gateway.status()["connections"][0]["hung"] is True
        await hung.ws.ping(b"after")
        with pytest.raises(asyncio.TimeoutError):  # nothing comes back: no pong, no frame, no close
            await asyncio.wait_for(hung.ws.receive(), 1.0)
        user, fresh = await User.connect(http, srv.url), await Bot.connect(http, srv.url)
        await user.send()
        await fresh.frame("CALLBACK")  # the hung connection is not pushed to
        await fresh.ws.close()
        await poll(lambda: srv.ledger.connections["current"] == 1)

        def ping_intervals_pass() -> bool:  # each look steps a ping interval: unanswered pings pile up
            clock.step(10)
            return srv.ledger.connections["current"] == 0

        await poll(ping_intervals_pass, "the dead-peer check to close the hung connection", timeout=DEADLINE)


@async_test
async def test_join_and_leave_become_event_frames_and_later_is_redelivered():
    async with server(ack_timeout_s=5.0) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.ws.send_str(json.dumps({"type": "join", "clientMsgId": "j1", "conversationId": "g1"}))
        event = await bot.frame("EVENT")
        assert event["headers"]["eventType"] == "chat_add_member" and event["headers"]["topic"] == "*"
        assert json.loads(event["data"])["userId"] == ["u1"]
        await bot.ack(event, data={"status": "LATER"})
        again = await bot.frame("EVENT")
        assert again["headers"]["eventId"] == event["headers"]["eventId"]
        await bot.ack(again, data={"status": "SUCCESS"})
        assert (await user.expect("event")) == {"type": "event", "clientMsgId": "j1", "status": "SUCCESS"}
        await user.ws.send_str(json.dumps({"type": "leave", "clientMsgId": "l1", "conversationId": "g1"}))
        assert (await bot.frame("EVENT"))["headers"]["eventType"] == "chat_remove_member"
        assert srv.summary()["events"]["redelivered"] == 1


async def bad_input_metric(http: aiohttp.ClientSession, url: str) -> dict[tuple[str, str], int]:
    """platform_bad_input_total as scraped from the emulator's /metrics, by (side, kind)."""
    async with http.get(f"{url}/metrics") as r:
        text = await r.text()
    return {
        (s.labels["side"], s.labels["kind"]): int(s.value)
        for family in text_string_to_metric_families(text)
        if family.name == "platform_bad_input"
        for s in family.samples
        if s.name == "platform_bad_input_total"
    }


@async_test
async def test_bad_bot_frames_are_counted_and_do_not_break_the_stream():
    async with server(max_payload_bytes=4096) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await bot.ws.send_str("{not json")
        await bot.ws.send_str(json.dumps({"type": "CALLBACK", "headers": {}}))
        await bot.ws.send_str(json.dumps({"code": 200, "headers": {"messageId": "never-sent"}}))
        await bot.ws.send_str(json.dumps({"code": 299, "headers": {"messageId": "x"}}))
        await user.send()
        frame = await bot.frame("CALLBACK")  # the stream still works
        await bot.ack(frame)
        await poll(lambda: srv.ledger.counts["acked"] == 1)
        bad = srv.summary()["bad_input"]
        assert bad == {"malformed_frame": 2, "unknown_frame_type": 1, "unknown_ack": 1}
        assert await bad_input_metric(http, srv.url) == {("bot", kind): n for kind, n in bad.items()}
        await bot.ws.send_str("x" * 5000)
        closing = await asyncio.wait_for(bot.ws.receive(), 10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert bot.ws.close_code == 1009
        await poll(lambda: srv.summary()["bad_input"].get("oversize_frame") == 1)
        assert (await bad_input_metric(http, srv.url))[("bot", "oversize_frame")] == 1


@async_test
async def test_bad_user_frames_get_an_error_naming_the_problem():
    async with server(max_payload_bytes=4096) as srv, aiohttp.ClientSession() as http:
        user = await User.connect(http, srv.url)
        cases = [
            ("nope", "not valid JSON"),
            (json.dumps({"clientMsgId": "a"}), "conversationId"),
            (json.dumps({"type": "dance", "clientMsgId": "b"}), "unknown type"),
            (
                json.dumps(
                    {"clientMsgId": "c", "conversationId": "g", "conversationType": "2", "text": "t", "atBot": False}
                ),
                "without @bot",
            ),
            (json.dumps({"clientMsgId": "d", "conversationId": "c", "text": "t", "app": "other"}), "not configured"),
        ]
        for text, why in cases:
            await user.ws.send_str(text)
            assert why in (await user.expect("error"))["error"]
        assert srv.summary()["bad_input"]["bad_user_frame"] == len(cases)
        assert await bad_input_metric(http, srv.url) == {("user", "bad_user_frame"): len(cases)}
        async with http.get(f"{srv.url}/user") as r:
            assert r.status == 400 and "userId" in (await r.json())["message"]


@async_test
async def test_pushes_only_go_to_connections_subscribed_to_them():
    async with server() as srv, aiohttp.ClientSession() as http:
        user = await User.connect(http, srv.url)
        await user.ws.send_str(json.dumps({"type": "join", "clientMsgId": "j", "conversationId": "g"}))
        await user.send()
        await poll(lambda: srv.ledger.counts["sent"] == 1 and srv.ledger.event_counts["sent"] == 1)
        callbacks_only = await Bot.connect(
            http, srv.url, subscriptions=[{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}]
        )
        assert (await callbacks_only.frame())["type"] == "CALLBACK"
        assert srv.gateway.status()["waiting"] == {"app-test": 1}  # the EVENT waits for an EVENT subscriber
        events = await Bot.connect(http, srv.url, subscriptions=[{"type": "EVENT", "topic": "*"}])
        assert (await events.frame())["type"] == "EVENT"


@async_test
async def test_connections_open_obeys_injected_errors():
    async with (
        server({"errors": {"gateway_open": {"status": 429, "ratio": 1}}}) as srv,
        aiohttp.ClientSession() as http,
    ):
        body = {"clientId": APP, "clientSecret": "s3cret-test"}
        async with http.post(f"{srv.url}/v1.0/gateway/connections/open", json=body) as r:
            assert r.status == 429 and (await r.json())["injected"] is True


@async_test
async def test_refused_event_is_final_and_the_user_is_told():
    async with server() as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.ws.send_str(json.dumps({"type": "join", "clientMsgId": "j1", "conversationId": "g1"}))
        await bot.ack(await bot.frame("EVENT"), code=404)
        assert (await user.expect("event"))["status"] == "REFUSED 404"
        assert srv.summary()["events"]["refused"] == 1 and not srv.ledger.records


@async_test
async def test_a_bot_that_never_answers_pings_is_closed():
    async with server(ping_interval_s=0.1, ping_miss_limit=2) as srv, aiohttp.ClientSession() as http:
        bot = await Bot.connect(http, srv.url)
        for _ in range(20):  # pings, never ACKed, then the close
            msg = await asyncio.wait_for(bot.ws.receive(), 20)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
        assert bot.ws.close_code == 1000 and "pings unanswered" in (msg.extra or "")
        await poll(lambda: srv.ledger.connections["current"] == 0)
