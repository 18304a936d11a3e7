"""The bot against the real emulator: commands, streamed cards, plain replies, group membership."""

import logging

import pytest

from reference_bot import __version__
from tests.bot.helpers import User, async_test, running, wait_for

pytestmark = pytest.mark.integration


@async_test
async def test_test_command_answers_with_the_version(caplog):
    caplog.set_level(logging.INFO, logger="reference_bot")
    async with running() as (srv, _bot), User.connect(srv.url) as user:
        frames = await user.until(await user.send("/test"))
        reply = frames[-1]
        assert reply["type"] == "reply" and reply["via"] == "sessionWebhook"
        for part in (f"version {__version__}", "protocol dingtalk-stream/1.0", "engine simulated", "uptime"):
            assert part in reply["content"]
        help_reply = (await user.until(await user.send("/help")))[-1]
        assert help_reply["msgtype"] == "markdown" and "/test" in help_reply["content"]
        unknown = (await user.until(await user.send("/nope")))[-1]
        assert "unknown command /nope" in unknown["content"]
    sent = [r for r in caplog.records if r.msg == "reply_sent"]
    assert [r.fields["seq"] for r in sent] == [1, 2, 3]


@async_test
async def test_a_question_gets_a_streamed_card_answer():
    async with running(engine__reply_tokens=12, engine__chunk_tokens=4) as (srv, bot), User.connect(srv.url) as user:
        frames = await user.until(await user.send("what is the status of my order?"))
        chunks = [f for f in frames if f["type"] == "chunk"]
        reply = frames[-1]
        assert [c["seq"] for c in chunks] == [1, 2, 3]
        assert reply["via"] == "card" and len(reply["content"].split()) == 12
        assert chunks[-1]["content"] == reply["content"]
        again = (await user.until(await user.send("what is the status of my order?")))[-1]
        assert again["content"] == reply["content"]  # the simulated engine is deterministic
        m = bot.metrics
        assert m.value("chatbot_messages_processed_total", outcome="replied") == 2
        assert m.value("chatbot_message_processing_seconds_count") == 2
        assert m.value("chatbot_first_reply_seconds_count") == 2
        assert m.value("chatbot_platform_requests_total", api="card_streaming", status="200") == 8
        assert m.value("chatbot_platform_requests_total", api="access_token", status="200") == 1
        assert srv.summary()["messages"]["lost"] == 0


@async_test
async def test_short_answers_go_as_plain_text_through_the_session_webhook():
    async with (
        running(engine__reply_tokens=3, engine__plain_text_max_tokens=5) as (srv, _bot),
        User.connect(srv.url) as user,
    ):
        frames = await user.until(await user.send("hi"))
        assert [f["type"] for f in frames] == ["accepted", "reply"]
        assert frames[-1]["via"] == "sessionWebhook" and len(frames[-1]["content"].split()) == 3


@async_test
async def test_group_join_and_leave_are_acked_and_change_membership():
    async with running() as (srv, bot), User.connect(srv.url, "alice") as alice, User.connect(srv.url, "bob") as bob:
        for user in (alice, bob):
            acked = (await user.until(await user.action("join", "grp-1"), kind="event"))[-1]
            assert acked["status"] == "SUCCESS"
        await wait_for(lambda: bot.conversations.members.get("grp-1") == {"alice", "bob"}, "both members")
        await alice.until(await alice.action("leave", "grp-1"), kind="event")
        await wait_for(lambda: bot.conversations.members.get("grp-1") == {"bob"}, "alice gone")
        reply = (await bob.until(await bob.send("hello group", conversation="grp-1", kind="2")))[-1]
        assert reply["via"] == "card"
        assert bot.metrics.value("chatbot_messages_received_total", type="EVENT") == 3
        assert srv.summary()["events"]["acked"] == 3


@async_test
async def test_one_senders_messages_are_answered_in_order_while_others_go_on():
    # the question streams 40 tokens at 20 a second (about 2 s); commands answer at once
    async with (
        running(engine__reply_tokens=40, engine__tokens_per_second=20.0) as (srv, bot),
        User.connect(srv.url, "alice") as alice,
        User.connect(srv.url, "bob") as bob,
    ):
        question = await alice.send("please summarise the quarterly numbers")
        quick = await alice.send("/test")
        other = await bob.send("/test")
        await bob.until(other)
        # bob was not held up by alice's long answer, and alice's /test waits behind her question
        assert bot.metrics.value("chatbot_messages_processed_total", outcome="replied") == 1
        await alice.until(question)
        assert not [f for f in alice.pending if f.get("clientMsgId") == quick and f["type"] == "reply"]
        assert (await alice.until(quick))[-1]["type"] == "reply"
        assert bot.inbound._in_order == {}  # nothing kept per sender once answered
