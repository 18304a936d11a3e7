"""The copy-paste bots of docs/sdk-python.md and docs/sdk-node.md work as printed: each answers a user
through the emulator, the Node one pointed there by the preload alone, and nothing is refused."""

import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from harness.platform import sdk
from tests.platform.helpers import APP, SECRET, User, async_test, poll, server
from tests.sdk_bots.node import SDK, require_node_sdk

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs"


def first_block(page: str, language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", (DOCS / page).read_text(), re.S)
    assert match, f"docs/{page} has no {language} block"
    return match.group(1)


async def answers_a_user(argv: list[str], extra_env: dict[str, str]) -> None:
    async with server() as srv, aiohttp.ClientSession() as http:
        env = {
            **os.environ,
            "DINGTALK_OPENAPI_ENDPOINT": srv.url,
            "DINGTALK_CLIENT_ID": APP,
            "DINGTALK_CLIENT_SECRET": SECRET,
            **extra_env,
        }
        bot = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await poll(lambda: srv.ledger.connections["current"] == 1, timeout=60)
            user = await User.connect(http, srv.url)
            await user.send(" hi ")
            assert (await user.expect("reply", timeout=60))["content"] == "echo: hi"
            await poll(lambda: srv.ledger.counts["acked"] == 1)
            assert srv.summary()["refusals"] == []
        finally:
            bot.kill()
            bot.wait(timeout=30)


@async_test
async def test_the_python_sdk_page_bot(tmp_path: Path):
    bot = tmp_path / "mybot.py"
    bot.write_text(first_block("sdk-python.md", "python"))
    await answers_a_user([sys.executable, str(bot)], {})


@async_test
async def test_the_node_sdk_page_bot():
    node = require_node_sdk()
    bot = SDK.parents[1] / "doc_bot.mjs"  # next to the SDK's node_modules (.node/), so its imports resolve
    bot.write_text(first_block("sdk-node.md", "js"))
    try:
        await answers_a_user([node, str(bot)], {"NODE_OPTIONS": sdk.node_options()})
    finally:
        bot.unlink()
