"""The official Python SDK runs against the emulator unchanged (DINGTALK_OPENAPI_ENDPOINT): the SDK bot
walks every reply path, SYSTEM pings and a disconnect, events and card clicks, and the emulator
refuses none of its calls."""

import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.platform.helpers import APP, SECRET, User, async_test, poll, server
from tests.sdk_bots.python_bot import MODES

pytestmark = pytest.mark.integration

BOT = Path(__file__).with_name("python_bot.py")


def start_bot(url: str, mode: str = "") -> subprocess.Popen:
    env = {
        **os.environ,
        "DINGTALK_OPENAPI_ENDPOINT": url,
        "DINGTALK_CLIENT_ID": APP,
        "DINGTALK_CLIENT_SECRET": SECRET,
        "SDK_BOT_MODE": mode,
    }
    return subprocess.Popen([sys.executable, str(BOT)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(bot: subprocess.Popen) -> None:
    bot.kill()
    bot.wait(timeout=30)


@pytest.mark.parametrize("mode", ["text", "ai_card"])
@async_test
async def test_official_sdk_chatbot_answers_a_user(mode):
    async with server() as srv, aiohttp.ClientSession() as http:
        bot = start_bot(srv.url, mode)
        try:
            await poll(lambda: srv.ledger.connections["current"] == 1, timeout=60)
            user = await User.connect(http, srv.url)
            client_msg_id = await user.send("  ping from user ")
            if mode == "ai_card":
                assert (await user.expect("chunk", timeout=60))["content"] == "echo: "
            reply = await user.expect("reply", timeout=60)
            assert reply["via"] == ("card" if mode == "ai_card" else "sessionWebhook")
            assert reply["clientMsgId"] == client_msg_id
            assert reply["content"] == "echo: ping from user"
            await poll(lambda: srv.ledger.counts["acked"] == 1)
            messages = srv.summary()["messages"]
            assert messages["replied"] == 1 and messages["lost"] == 0
            if mode == "ai_card":  # finalized the stream, then finished the card: both accepted
                await poll(lambda: ("PUT", "/v1.0/card/instances") in _calls(srv, 200))
                assert srv.summary()["refusals"] == [] and messages["duplicate_replies"] == 0
            if mode == "text":  # the SDK follows a SYSTEM disconnect by reconnecting
                async with http.post(f"{srv.url}/admin/actions/disconnect", json={"all": True}) as r:
                    assert (await r.json())["disconnected"] == 1
                await poll(
                    lambda: srv.ledger.connections["opened"] == 2 and srv.ledger.connections["current"] == 1, timeout=60
                )
                await user.send("again")
                assert (await user.expect("reply", timeout=60))["content"] == "echo: again"
                assert "unknown_ack" not in srv.summary()["bad_input"]
                await user.ws.send_str(json.dumps({"type": "join", "clientMsgId": "j1", "conversationId": "g1"}))
                assert (await user.expect("event", timeout=60))["status"] == "SUCCESS"
        finally:
            stop(bot)


def _calls(srv, status: int) -> set[tuple[str, str]]:
    """(method, route) pairs the emulator answered with `status`, from its response counter."""
    routes = {"card_create": ("PUT", "/v1.0/card/instances")}
    return {routes[r["api"]] for r in srv.summary()["api_responses"] if r["status"] == status and r["api"] in routes}


@async_test
async def test_every_path_of_the_python_sdk_bot_is_accepted():
    """Each reply path in turn, one-to-one and in a group, with pings every half second, a card click
    and an event: every message answered once, nothing refused, every ping ACKed."""
    async with server(ping_interval_s=0.5, ping_miss_limit=2) as srv, aiohttp.ClientSession() as http:
        bot = start_bot(srv.url)
        try:
            await poll(lambda: srv.ledger.connections["current"] == 1, timeout=60)
            user = await User.connect(http, srv.url)
            for i in range(2 * len(MODES)):
                group = {"conversation": "g1", "conversationType": "2"} if i % 2 else {"conversation": "dm-1"}
                await user.send(f"question {i}", **group)
                reply = await user.expect("reply", timeout=60)
                assert f"echo: question {i}" in reply["content"], reply  # a card's or robot send's data holds it
            card = {"type": "card_action", "clientMsgId": "click-1", "outTrackId": "some-card", "params": {"like": 1}}
            await user.ws.send_str(json.dumps(card))
            answer = await user.expect("event", timeout=60)
            assert json.loads(answer["response"]["cardData"]["cardParamMap"]["clicked"]) == {"like": 1}
            summary = srv.summary()
            assert summary["refusals"] == [], summary["refusals"]
            messages = summary["messages"]
            assert (messages["replied"], messages["lost"], messages["duplicate_replies"]) == (2 * len(MODES), 0, 0)
            assert summary["unmatched_replies"] == 0
            (conn,) = srv.gateway.connections.values()
            assert conn.pings_unanswered == 0 and srv.ledger.connections["opened"] == 1  # pings ACKed in time
        finally:
            stop(bot)
