"""The official dingtalk-stream SDK runs against the emulator unchanged (DINGTALK_OPENAPI_ENDPOINT)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.platform.helpers import APP, SECRET, User, async_test, poll, server

pytestmark = pytest.mark.integration

SDK_BOT = Path(__file__).with_name("sdk_bot.py")


@pytest.mark.parametrize("mode", ["text", "card"])
@async_test
async def test_official_sdk_chatbot_answers_a_user(mode):
    async with server() as srv, aiohttp.ClientSession() as http:
        env = {
            **os.environ,
            "DINGTALK_OPENAPI_ENDPOINT": srv.url,
            "SDK_BOT_CLIENT_ID": APP,
            "SDK_BOT_CLIENT_SECRET": SECRET,
            "SDK_BOT_MODE": mode,
        }
        bot = subprocess.Popen(
            [sys.executable, str(SDK_BOT)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            await poll(lambda: srv.ledger.connections["current"] == 1, timeout=60)
            user = await User.connect(http, srv.url)
            client_msg_id = await user.send("  ping from user ")
            if mode == "card":
                assert (await user.expect("chunk", timeout=60))["content"] == "echo: "
            reply = await user.expect("reply", timeout=60)
            assert reply["via"] == ("card" if mode == "card" else "sessionWebhook")
            assert reply["clientMsgId"] == client_msg_id
            assert reply["content"] == "echo: ping from user"
            await poll(lambda: srv.ledger.counts["acked"] == 1)
            messages = srv.summary()["messages"]
            assert messages["replied"] == 1 and messages["lost"] == 0
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
            bot.kill()
            bot.wait(timeout=30)
