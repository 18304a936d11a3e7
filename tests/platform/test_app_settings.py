"""The app settings that reproduce a misconfigured DingTalk app, each answered as DingTalk answers it."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from harness.platform import AppConfig, PlatformServer
from tests.platform.helpers import APP, SECRET, Bot, User, async_test, server

pytestmark = pytest.mark.integration

ROBOT_SEND = "/v1.0/robot/oToMessages/batchSend"


def emulator(**app_changes: Any) -> PlatformServer:
    return server(apps=(AppConfig(app_id=APP, secret=SECRET, **app_changes),))


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any], token: str = "") -> tuple[int, dict]:
    headers = {"x-acs-dingtalk-access-token": token} if token else {}
    async with http.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def open_stream(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    return await post(http, f"{url}/v1.0/gateway/connections/open", {"clientId": APP, "clientSecret": SECRET})


async def access_token(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    return await post(http, f"{url}/v1.0/oauth2/accessToken", {"appKey": APP, "appSecret": SECRET})


@async_test
async def test_a_reset_secret_refuses_the_bots_copy_at_both_logins():
    async with emulator(secret_reset=True) as srv, aiohttp.ClientSession() as http:
        token_status, token_body = await access_token(http, srv.url)
        stream_status, stream_body = await open_stream(http, srv.url)
    assert (token_status, token_body["code"]) == (401, "InvalidAuthentication")
    assert (stream_status, stream_body["code"]) == (401, "InvalidAuthentication")


@async_test
async def test_stream_mode_off_refuses_connections_open_but_issues_tokens():
    async with emulator(stream_mode=False) as srv, aiohttp.ClientSession() as http:
        status, body = await open_stream(http, srv.url)
        token_status, _ = await access_token(http, srv.url)
    assert (status, body["code"]) == (403, "StreamModeNotEnabled") and "HTTP mode" in body["message"]
    assert token_status == 200


@async_test
async def test_an_ip_outside_the_whitelist_gets_a_token_and_a_stream_but_no_open_api():
    async with emulator(ip_whitelist=("203.0.113.0/24",)) as srv, aiohttp.ClientSession() as http:
        token_status, token_body = await access_token(http, srv.url)
        stream_status, _ = await open_stream(http, srv.url)
        status, body = await post(http, srv.url + ROBOT_SEND, {}, token_body["accessToken"])
    assert token_status == 200 and stream_status == 200
    assert (status, body["code"]) == (403, "Forbidden.AccessDenied.IpNotInWhiteList")
    assert "request ip=127.0.0.1" in body["message"]


@async_test
async def test_a_disabled_robot_is_not_found_by_robot_send_and_gets_no_messages():
    async with emulator(bot_enabled=False) as srv, aiohttp.ClientSession() as http:
        bot = await Bot.connect(http, srv.url)
        status, body = await post(http, srv.url + ROBOT_SEND, {"robotCode": APP}, await bot.token(srv.url))
        user = await User.connect(http, srv.url)
        await user.send("/test")
        refused = await user.expect("error")
        assert srv.summary()["messages"]["sent"] == 0
    assert (status, body["code"]) == (400, "resource.not.found") and "robot 不存在" in body["message"]
    assert "disabled" in refused["error"]
