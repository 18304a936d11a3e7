"""Deeply nested JSON (under the size limit) on every entry point: a counted bad input, never a crash.

30,000 levels of `[[[...]]]` is 60 KB; the standard parser raises RecursionError on it, which used to
close the sockets with 1006 and answer the HTTP routes with a bare 500.
"""

import aiohttp
import pytest

from tests.bot.helpers import running
from tests.platform.helpers import APP, SECRET, Bot, User, async_test, poll, server

pytestmark = pytest.mark.integration

NESTED = "[" * 30_000 + "]" * 30_000
LIMIT = 128 * 1024  # above the nested document's size, so the depth and not the size is what is tested


@async_test
async def test_nested_json_on_the_sockets_is_a_counted_bad_frame_and_the_connections_stay_up():
    async with server(max_payload_bytes=LIMIT) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await bot.ws.send_str(NESTED)
        await user.ws.send_str(NESTED)
        assert "nested too deeply" in (await user.expect("error"))["error"]
        await poll(lambda: srv.summary()["bad_input"].get("malformed_frame") == 1)
        await user.send()  # both sockets still carry messages
        await bot.ack(await bot.frame("CALLBACK"))
        await poll(lambda: srv.ledger.counts["acked"] == 1)
        assert not bot.ws.closed and not user.ws.closed


@async_test
async def test_nested_json_in_request_bodies_is_a_400_naming_the_problem():
    async with server(max_payload_bytes=LIMIT) as srv, aiohttp.ClientSession() as http:
        headers = {"Content-Type": "application/json"}
        for path in ("/v1.0/oauth2/accessToken", "/v1.0/gateway/connections/open", "/admin/faults"):
            async with http.post(f"{srv.url}{path}", data=NESTED, headers=headers) as r:
                body = await r.json()
                assert r.status == 400, (path, r.status, body)
                assert "nested too deeply" in body["message"], path
        async with http.post(f"{srv.url}/v1.0/oauth2/accessToken", json={"appKey": APP, "appSecret": SECRET}) as r:
            assert r.status == 200  # the server is fine afterwards


@async_test
async def test_nested_json_on_the_bot_login_is_a_400():
    async with running() as (_srv, bot), aiohttp.ClientSession() as http:
        async with http.post(f"{bot.admin_url}/login", data=NESTED) as r:
            assert r.status == 400
        async with http.get(f"{bot.admin_url}/healthz") as r:
            assert r.status == 200
