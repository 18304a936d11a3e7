"""`harness doctor`'s checks against real emulators on 127.0.0.1: each item passes on a correctly set-up
app, and each misconfiguration switch of the emulator makes exactly its item fail, with its fix."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from harness.core.contract import PERMISSION_SCOPES
from harness.platform import AppConfig, PlatformServer
from harness.run.doctor.checks import ITEMS, Check, Credentials, check_platform, round_trip
from tests.aio import served
from tests.platform.helpers import APP, SECRET, Bot, async_test, server

pytestmark = pytest.mark.integration

CREDS = Credentials(APP, SECRET)
PLATFORM_ITEMS = [item for item in ITEMS if item != "test_round_trip"]


def emulator(**app_changes: Any) -> PlatformServer:
    return server(apps=(AppConfig(app_id=APP, secret=SECRET, **app_changes),))


def statuses(checks: list[Check]) -> dict[str, str]:
    return {c.item: c.status for c in checks}


def expected(fail: Sequence[str], unknown: Sequence[str] = ()) -> dict[str, str]:
    return {item: "fail" if item in fail else "unknown" if item in unknown else "pass" for item in PLATFORM_ITEMS}


def without(scope: str) -> tuple[str, ...]:
    return tuple(s for s in PERMISSION_SCOPES if s != scope)


async def checklist(srv: PlatformServer, creds: Credentials = CREDS) -> dict[str, Check]:
    async with srv:
        checks = await check_platform(srv.url, creds)
    assert [c.item for c in checks] == PLATFORM_ITEMS
    return {c.item: c for c in checks}


@async_test
async def test_a_correctly_set_up_app_passes_every_platform_item():
    checks = await checklist(emulator())
    assert statuses(list(checks.values())) == expected([]), [c.line() for c in checks.values()]
    assert all(not c.fix for c in checks.values())
    assert "batchSend" in checks["bot_enabled"].detail and "issued a token" in checks["token"].detail


# switch -> (the failing items, the undecided ones, words the failing item's fix must hold)
MISCONFIGURATIONS: dict[str, tuple[dict[str, Any], list[str], list[str], list[str]]] = {
    "wrong secret": (
        {"secret_reset": True},
        ["token", "stream"],
        [i for i in PLATFORM_ITEMS if i not in ("token", "stream")],
        ["Client Secret", "DINGTALK_CLIENT_SECRET"],
    ),
    "stream mode off": ({"stream_mode": False}, ["stream"], [], ["Stream mode"]),
    "IP not whitelisted": (
        {"ip_whitelist": ("203.0.113.7",)},
        ["ip_whitelist"],
        [f"scope:{s}" for s in PERMISSION_SCOPES] + ["bot_enabled"],
        ["whitelist", "127.0.0.1"],
    ),
    "bot disabled": ({"bot_enabled": False}, ["bot_enabled"], [], ["enable the robot", APP]),
    **{
        f"missing {scope}": (
            {"scopes": without(scope)},
            [f"scope:{scope}"],
            ["bot_enabled"] if scope == "qyapi_robot_sendmsg" else [],
            ["Permission management", scope],
        )
        for scope in PERMISSION_SCOPES
    },
}


@pytest.mark.parametrize("switch", sorted(MISCONFIGURATIONS))
@async_test
async def test_each_misconfiguration_fails_its_item_with_the_fix(switch):
    changes, failing, undecided, fix_words = MISCONFIGURATIONS[switch]
    checks = await checklist(emulator(**changes))
    assert statuses(list(checks.values())) == expected(failing, undecided), [c.line() for c in checks.values()]
    for item in failing:
        assert all(word in checks[item].fix for word in fix_words), checks[item].line()
    assert all(c.detail for c in checks.values())


@async_test
async def test_the_platform_answers_are_named_in_the_failing_lines():
    ip = await checklist(emulator(ip_whitelist=("10.0.0.0/8",)))
    assert "Forbidden.AccessDenied.IpNotInWhiteList" in ip["ip_whitelist"].detail
    scope = await checklist(emulator(scopes=without("Card.Streaming.Write")))
    assert "HTTP 403 Forbidden.AccessDenied.AccessTokenPermissionDenied" in scope["scope:Card.Streaming.Write"].detail
    assert "PUT /v1.0/card/streaming" in scope["scope:Card.Streaming.Write"].detail
    bot = await checklist(emulator(bot_enabled=False))
    assert "HTTP 400 resource.not.found" in bot["bot_enabled"].detail


@async_test
async def test_a_secret_that_does_not_match_fails_the_token_and_an_allowed_network_passes_the_whitelist():
    wrong = await checklist(emulator(), Credentials(APP, "not-the-secret"))
    assert wrong["token"].status == "fail" and "HTTP 401" in wrong["token"].detail
    allowed = await checklist(emulator(ip_whitelist=("127.0.0.0/8",)))
    assert statuses(list(allowed.values())) == expected([])


@async_test
async def test_an_unreachable_platform_fails_the_token_with_the_url_in_the_fix():
    srv = emulator()
    async with srv:
        url = srv.url
    checks = {c.item: c for c in await check_platform(url, CREDS)}  # nothing listens there any more
    assert checks["token"].status == "fail" and url in checks["token"].fix
    assert checks["stream"].status == "fail"
    assert {checks[i].status for i in PLATFORM_ITEMS[2:]} == {"unknown"}


# --- the /test round trip --------------------------------------------------------------------------


async def answer_once(bot: Bot, http: aiohttp.ClientSession, text: str | None) -> None:
    """ACK the next message and, unless `text` is None, reply `text` through its session webhook."""
    frame = await bot.frame("CALLBACK")
    await bot.ack(frame)
    if text is not None:
        hook = json.loads(frame["data"])["sessionWebhook"]
        async with http.post(hook, json={"msgtype": "text", "text": {"content": text}}) as resp:
            assert resp.status == 200


async def trip_with(reply: str | None, timeout_s: float = 20.0, **app_changes: Any) -> Check:
    async with emulator(**app_changes) as srv, aiohttp.ClientSession() as http:
        bot = await Bot.connect(http, srv.url)
        answering = asyncio.create_task(answer_once(bot, http, reply))
        check = await round_trip(srv.url, APP, "/test", "version", timeout_s)
        await asyncio.wait_for(answering, 20)
        await bot.ws.close()
    return check


@async_test
async def test_a_reply_with_the_version_passes():
    check = await trip_with("mybot version 1.2.3")
    assert check.status == "pass" and "mybot version 1.2.3" in check.detail and not check.fix


@async_test
async def test_a_reply_without_version_information_fails():
    check = await trip_with("hello there")
    assert check.status == "fail" and "hello there" in check.detail and "version information" in check.fix


@async_test
async def test_a_connected_bot_that_stays_silent_fails_saying_it_was_connected():
    check = await trip_with(None, timeout_s=1.0)
    assert check.status == "fail" and "connected but did not answer" in check.detail


@async_test
async def test_no_connected_bot_fails_saying_none_was_connected():
    async with emulator() as srv:
        check = await round_trip(srv.url, APP, "/test", "version", 1.0)
    assert check.status == "fail" and f"no bot of app {APP} had a stream connection open" in check.detail


@async_test
async def test_a_disabled_robot_gets_no_message_and_a_bot_that_exited_is_named():
    async with emulator(bot_enabled=False) as srv:
        refused = await round_trip(srv.url, APP, "/test", "version", 20.0)
    assert refused.status == "fail" and "disabled" in refused.detail
    async with emulator() as srv:
        gone = await round_trip(srv.url, APP, "/test", "version", 20.0, gone=lambda: "the bot exited with code 3")
    assert gone.status == "fail" and "exited with code 3" in gone.detail


@async_test
async def test_a_platform_without_a_user_side_leaves_the_round_trip_unknown():
    async with served(web.Application()) as url:  # answers 404 to everything, as DingTalk does to /user
        check = await round_trip(url, APP, "/test", "version", 5.0)
    assert check.status == "unknown" and "no user side" in check.detail and "DingTalk chat" in check.detail
