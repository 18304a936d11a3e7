"""The emulator's TCP connections under abuse, over real sockets on 127.0.0.1: a connection limit that
half-open requests cannot exhaust, header and idle timeouts, and accept errors counted, not logged each."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import time

import aiohttp
import pytest

from harness.platform.sockets import ACCEPT_OUT_OF_RESOURCES, MAX_HEAD_BYTES
from tests.platform.helpers import Bot, SteppedClock, User, async_test, poll, server

pytestmark = pytest.mark.integration

HALF_A_HEAD = b"GET /healthz HTTP/1.1\r\nHost: emulator\r\nX-Slow: "


async def half_open(port: int, count: int) -> list[asyncio.StreamWriter]:
    """`count` connections that each send half a request head and then nothing."""
    writers = []
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HALF_A_HEAD)
        writers.append(writer)
    await asyncio.gather(*(w.drain() for w in writers))
    return writers


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before closing (EOF or a reset both mean closed)."""
    try:
        return await asyncio.wait_for(reader.read(), 20)
    except ConnectionResetError:
        return b""


def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.transport.abort()


@async_test
async def test_half_open_connections_do_not_stop_healthz_or_the_bot():
    """300 half-open requests against a limit of 50: the oldest without a head make room for new ones,
    so /healthz answers and a stream bot connects and answers a user; nothing is lost."""
    async with server(max_connections=50, header_timeout_s=600) as srv, aiohttp.ClientSession() as http:
        attackers = await half_open(srv.port, 300)
        try:
            await poll(lambda: srv.sockets.counts["accepted"] >= 300, "every attacking connection accepted")
            async with http.get(f"{srv.url}/healthz") as r:
                assert r.status == 200
            bot = await Bot.connect(http, srv.url)
            user = await User.connect(http, srv.url)
            more = await half_open(srv.port, 100)  # the bot's stream is established: never evicted
            attackers += more
            await user.send("still there?")
            frame = await bot.frame("CALLBACK")
            await bot.ack(frame)
            hook = json.loads(frame["data"])["sessionWebhook"]
            async with http.post(hook, json={"msgtype": "text", "text": {"content": "yes"}}) as r:
                assert r.status == 200
            assert (await user.expect("reply"))["content"] == "yes"
            sockets = srv.summary()["sockets"]
            assert sockets["limit"] == 50 and sockets["peak"] <= 51, sockets
            assert sockets["evicted"] >= 350 and sockets["refused"] == 0, sockets
            messages = srv.summary()["messages"]
            assert messages["replied"] == 1 and messages["lost"] == 0
        finally:
            close_all(attackers)


@async_test
async def test_half_a_header_is_closed_after_the_header_timeout_on_the_emulators_clock():
    clock = SteppedClock()
    async with server(clock=clock, header_timeout_s=10) as srv:
        slow_reader, slow = await asyncio.open_connection("127.0.0.1", srv.port)
        slow.write(HALF_A_HEAD)
        ok_reader, ok = await asyncio.open_connection("127.0.0.1", srv.port)
        ok.write(b"GET /healthz HTTP/1.1\r\nHost: emulator\r\n\r\n")  # kept alive after its answer
        assert (await ok_reader.readuntil(b"}")).startswith(b"HTTP/1.1 200")
        await poll(lambda: srv.sockets.open == 2, "both connections open")
        clock.step(10.1)
        assert await closed_by_server(slow_reader) == b""
        assert srv.summary()["sockets"]["header_timeouts"] == 1
        assert srv.sockets.open == 1  # the one that sent its head is not touched
        close_all([slow, ok])


@async_test
async def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout():
    async with server(idle_timeout_s=0.3) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: emulator\r\n\r\n")
        answer = await closed_by_server(reader)
        assert answer.startswith(b"HTTP/1.1 200") and time.monotonic() - started >= 0.25
        close_all([writer])


@async_test
async def test_with_every_connection_in_use_a_new_one_is_refused_with_503_and_counted():
    async with server(max_connections=3) as srv, aiohttp.ClientSession() as http:
        users = [await User.connect(http, srv.url, f"u{i}") for i in range(3)]
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        answer = await closed_by_server(reader)
        assert answer.startswith(b"HTTP/1.1 503") and b"connection limit reached" in answer
        assert srv.summary()["sockets"]["refused"] == 1
        close_all([writer])
        await users[0].ws.close()
        await poll(lambda: srv.sockets.open < 3, "a place to free up")
        async with http.get(f"{srv.url}/healthz") as r:
            assert r.status == 200
        for user in users[1:]:
            await user.ws.close()


@async_test
async def test_a_request_head_over_the_limit_is_answered_431():
    async with server() as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 1))
        assert (await closed_by_server(reader)).startswith(b"HTTP/1.1 431")
        assert srv.summary()["sockets"]["head_too_large"] == 1
        close_all([writer])


@async_test
async def test_accept_errors_are_logged_once_and_counted(caplog: pytest.LogCaptureFixture):
    """What asyncio reports when accept() finds no file descriptor left: one log line, then a count;
    other loop errors still reach the handler that was there before."""
    loop = asyncio.get_running_loop()
    others: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: others.append(context))
    async with server() as srv:
        with caplog.at_level(logging.WARNING, logger="harness.platform"):
            for _ in range(500):
                loop.call_exception_handler(
                    {"message": ACCEPT_OUT_OF_RESOURCES, "exception": OSError(errno.EMFILE, "Too many open files")}
                )
            loop.call_exception_handler({"message": "something else", "exception": RuntimeError("x")})
        assert srv.summary()["sockets"]["accept_errors"] == 500
        assert sum("accepting a connection failed" in r.getMessage() for r in caplog.records) == 1
        assert [c["message"] for c in others] == ["something else"]
    assert loop.get_exception_handler() is not None and loop.get_exception_handler() is not srv.sockets._loop_exception
