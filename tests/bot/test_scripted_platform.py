"""What the emulator does not produce on purpose, played by a scripted platform on a real socket:
malformed frames, unknown topics, oversize text and bad JSON (the right ACK, a log line, and the bot
keeps serving), SYSTEM ping, a peer that stops answering pings, 5xx from the open API, a crashing
handler."""

import json
import logging

import pytest

from reference_bot.bot import ReferenceBot
from tests.bot.helpers import DEADLINE, User, async_test, bot_config, running, secrets, wait_for
from tests.bot.stub_platform import StubPlatform

pytestmark = pytest.mark.integration


def warnings_named(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.msg == event]


@async_test
async def test_bad_frames_get_the_right_ack_code_and_a_log_line(caplog):
    caplog.set_level(logging.INFO, logger="reference_bot")
    async with StubPlatform() as stub:
        bot = ReferenceBot(bot_config(stub.url, buffer__max_text_chars=100), secrets())
        await bot.start()
        try:
            await stub.send("this is not json")
            await stub.send(json.dumps({"type": "CALLBACK", "headers": {}}))
            await stub.send(json.dumps({"type": "WEIRD", "headers": {"messageId": "f1"}, "data": "{}"}))
            assert (await stub.next_ack())["code"] == 400  # the first two name no messageId: nothing to ACK
            await stub.send(stub.robot_message("f2", {}, topic="/v1.0/unknown/topic"))
            assert (await stub.next_ack())["code"] == 404
            await stub.send(stub.robot_message("f3", "{broken json"))
            ack = await stub.next_ack()
            assert (ack["code"], ack["headers"]["messageId"]) == (400, "f3") and "not JSON" in ack["message"]
            await stub.send(stub.robot_message("f4", {"msgtype": "text"}))
            assert "msgId" in (await stub.next_ack())["message"]
            await stub.send(stub.robot_message("f5", stub.text_data("m-long", "x" * 101)))
            ack = await stub.next_ack()
            assert ack["code"] == 400 and "at most 100 characters, got 101" in ack["message"]
            await stub.send({"type": "SYSTEM", "headers": {"messageId": "f6", "topic": "reboot"}, "data": "{}"})
            assert (await stub.next_ack())["code"] == 404
            await stub.send(
                {"type": "EVENT", "headers": {"messageId": "f7", "eventType": "chat_add_member"}, "data": "{nope"}
            )
            assert (await stub.next_ack())["code"] == 400
            # ... and the bot keeps serving
            await stub.send(stub.robot_message("f8", stub.text_data("m-ok", "/test")))
            assert (await stub.next_ack())["code"] == 200
            reply = await stub.webhook_bodies.get()
            assert "reference-bot version" in reply["text"]["content"]
            picture = {**stub.text_data("m-pic", ""), "msgtype": "picture", "content": {"downloadCode": "dc"}}
            await stub.send(stub.robot_message("f9", picture))
            assert (await stub.next_ack())["code"] == 200
            assert "only read text" in (await stub.webhook_bodies.get())["text"]["content"]
        finally:
            await bot.stop()
    assert bot.metrics.value("chatbot_messages_received_total", type="INVALID") == 3
    assert bot.metrics.value("chatbot_messages_processed_total", outcome="rejected") == 3
    assert len(warnings_named(caplog, "bad_frame")) == 3
    assert len(warnings_named(caplog, "message_rejected")) == 3
    assert len(warnings_named(caplog, "unknown_topic")) == 2
    assert len(warnings_named(caplog, "bad_event")) == 1


@async_test
async def test_system_ping_is_answered_with_its_opaque_value():
    async with StubPlatform() as stub:
        bot = ReferenceBot(bot_config(stub.url), secrets())
        await bot.start()
        try:
            await stub.send(
                {
                    "specVersion": "1.0",
                    "type": "SYSTEM",
                    "headers": {"messageId": "p1", "topic": "ping"},
                    "data": json.dumps({"opaque": "op-42"}),
                }
            )
            ack = await stub.next_ack()
            assert (ack["code"], ack["headers"]["messageId"]) == (200, "p1")
            assert json.loads(ack["data"]) == {"opaque": "op-42"}
        finally:
            await bot.stop()


@async_test
async def test_a_silent_peer_is_dropped_by_the_heartbeat_and_reconnected():
    async with StubPlatform(autoping=False) as stub:
        bot = ReferenceBot(bot_config(stub.url, heartbeat__interval_seconds=0.2), secrets())
        await bot.start()
        try:
            await wait_for(
                lambda: bot.metrics.value("chatbot_stream_reconnects_total", reason="heartbeat_timeout") > 0,
                "a heartbeat timeout",
                DEADLINE,
            )
            await wait_for(lambda: len(stub.sockets) >= 2, "a new connection")
        finally:
            await bot.stop()


@async_test
async def test_garbage_on_the_real_emulator_socket_does_not_stop_the_bot():
    async with running() as (srv, bot), User.connect(srv.url) as user:
        for conn in srv.gateway.connections.values():
            conn.outbox.send("\x00garbage")
            conn.outbox.send(json.dumps({"type": "CALLBACK", "headers": {"messageId": "x"}, "data": "[1, 2"}))
        reply = (await user.until(await user.send("/test")))[-1]
        assert "reference-bot" in reply["content"]
        assert bot.metrics.value("chatbot_messages_received_total", type="INVALID") == 1


@async_test
async def test_a_crashing_handler_costs_a_redelivery_not_the_stream(caplog):
    caplog.set_level(logging.INFO, logger="reference_bot")
    async with StubPlatform() as stub:
        bot = ReferenceBot(bot_config(stub.url), secrets())
        await bot.start()
        try:
            healthy = bot.stream.on_frame
            calls: list[str] = []

            def crash_once(frame):
                calls.append(frame.message_id)
                if len(calls) == 1:
                    raise RuntimeError("a bug in a handler")
                return healthy(frame)

            bot.stream.on_frame = crash_once
            await stub.send(stub.robot_message("c1", stub.text_data("m-c1", "/test")))
            assert (await stub.next_ack())["code"] == 500
            await stub.send(stub.robot_message("c2", stub.text_data("m-c1", "/test")))  # the redelivery
            assert (await stub.next_ack())["code"] == 200
            assert "reference-bot version" in (await stub.webhook_bodies.get())["text"]["content"]
            assert len(stub.sockets) == 1  # the same connection kept serving
        finally:
            await bot.stop()
    assert len(warnings_named(caplog, "handler_crashed")) == 1


@async_test
async def test_5xx_from_the_platform_is_retried_within_policy():
    async with StubPlatform() as stub:
        stub.webhook_failures = [503, 500]
        bot = ReferenceBot(bot_config(stub.url), secrets())
        await bot.start()
        try:
            await stub.send(stub.robot_message("r1", stub.text_data("m-r1", "/test")))
            assert "reference-bot version" in (await stub.webhook_bodies.get())["text"]["content"]
        finally:
            await bot.stop()
    assert bot.metrics.value("chatbot_platform_retries_total", api="session_webhook") == 2
    assert (
        bot.metrics.value(
            "chatbot_platform_requests_total", api="session_webhook", status="503", code="ServiceUnavailable"
        )
        == 1
    )
    assert bot.metrics.value("chatbot_messages_processed_total", outcome="replied") == 1
