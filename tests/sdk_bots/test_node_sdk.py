"""The official Node SDK against the emulator, pointed there by the harness's preload alone: the SDK bot
walks every reply path, both token routes, pings, a disconnect, events and card clicks, and the
emulator refuses none of its calls."""

import json
import os
import subprocess

import aiohttp
import pytest

from harness.platform import sdk
from tests.platform.helpers import APP, SECRET, User, async_test, poll, server
from tests.sdk_bots.node import HERE, require_node_sdk

pytestmark = pytest.mark.integration

MODES = 7  # node_bot.mjs MODES


def start_bot(node: str, url: str, mode: str = "") -> subprocess.Popen:
    env = {
        **os.environ,
        "DINGTALK_OPENAPI_ENDPOINT": url,
        "DINGTALK_CLIENT_ID": APP,
        "DINGTALK_CLIENT_SECRET": SECRET,
        "NODE_OPTIONS": sdk.node_options(),
        "SDK_BOT_MODE": mode,
    }
    return subprocess.Popen(
        [node, str(HERE / "node_bot.mjs")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop(bot: subprocess.Popen) -> None:
    bot.kill()
    bot.wait(timeout=30)


@async_test
async def test_every_path_of_the_node_sdk_bot_is_accepted():
    node = require_node_sdk()
    async with (
        server(ping_interval_s=0.5, ping_miss_limit=2, disconnect_grace_s=1.0) as srv,
        aiohttp.ClientSession() as http,
    ):
        bot = start_bot(node, srv.url)
        try:
            await poll(lambda: srv.ledger.connections["current"] == 1, timeout=60)
            user = await User.connect(http, srv.url)
            for i in range(2 * MODES):
                group = {"conversation": "g1", "conversationType": "2"} if i % 2 else {"conversation": "dm-1"}
                await user.send(f"question {i}", **group)
                reply = await user.expect("reply", timeout=60)
                assert f"echo: question {i}" in reply["content"], reply
            await user.ws.send_str(json.dumps({"type": "join", "clientMsgId": "j1", "conversationId": "g1"}))
            assert (await user.expect("event", timeout=60))["status"] == "SUCCESS"
            click = {"type": "card_action", "clientMsgId": "click-1", "outTrackId": "some-card", "params": {"like": 2}}
            await user.ws.send_str(json.dumps(click))
            answer = await user.expect("event", timeout=60)
            assert json.loads(answer["response"]["cardData"]["cardParamMap"]["clicked"]) == {"like": 2}
            (conn,) = srv.gateway.connections.values()
            assert conn.pings_unanswered == 0  # the SDK ACKs SYSTEM pings
            # a SYSTEM disconnect: the Node SDK reconnects once the platform closes the old connection
            async with http.post(f"{srv.url}/admin/actions/disconnect", json={"all": True}) as r:
                assert (await r.json())["disconnected"] == 1
            await poll(
                lambda: srv.ledger.connections["opened"] == 2 and srv.ledger.connections["current"] == 1, timeout=60
            )
            await user.send("after the reconnect", conversation="dm-1")
            assert "after the reconnect" in (await user.expect("reply", timeout=60))["content"]
            summary = srv.summary()
            assert summary["refusals"] == [], summary["refusals"]
            messages = summary["messages"]
            assert (messages["replied"], messages["lost"], messages["duplicate_replies"]) == (2 * MODES + 1, 0, 0)
            assert summary["unmatched_replies"] == 0 and summary["login_failures"]["access_token"] == 0
            assert "unknown_ack" not in summary["bad_input"]
        finally:
            stop(bot)
