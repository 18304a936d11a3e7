"""The emulator's WebSocket outbox: frames encoded by hand, batched per event-loop turn, read back by a
real client over loopback."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from harness.platform.outbox import Outbox, text_frame
from tests.aio import async_test, served

pytestmark = pytest.mark.integration

SIZES = (0, 125, 126, 65535, 65536, 200_000)  # each length encoding and its edges


def test_text_frame_headers_follow_rfc_6455_length_encodings() -> None:
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert text_frame(b"x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert text_frame(b"x" * 65536)[:10] == b"\x81\x7f" + (65536).to_bytes(8, "big")


def _app(handler) -> web.Application:
    app = web.Application()
    app.router.add_get("/ws", handler)
    return app


@async_test
async def test_frames_sent_in_one_turn_arrive_whole_in_order_and_none_after_close() -> None:
    outcome: dict[str, object] = {}

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        outbox = Outbox(ws, request.transport)
        for i, size in enumerate(SIZES):  # one turn: one write to the transport
            assert outbox.send(str(i) * size if i % 2 else (str(i) * size).encode())
        await asyncio.sleep(0)
        outcome["written_after_a_turn"] = outbox.written
        outcome["ping_ok"] = outbox.send("é ping")  # non-ASCII text goes as UTF-8
        async for msg in ws:  # the client's "bye" ends it
            assert msg.data == "bye"
            break
        await ws.close()
        outcome["after_close"] = outbox.send("late")
        await outbox.aclose()
        return ws

    async with (
        served(_app(handler)) as url,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{url}/ws", max_msg_size=0) as ws,
    ):
        got = [await ws.receive_str() for _ in SIZES]
        assert await ws.receive_str() == "é ping"
        await ws.send_str("bye")
        assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE
    assert got == [str(i) * size for i, size in enumerate(SIZES)]
    assert outcome == {"written_after_a_turn": len(SIZES), "ping_ok": True, "after_close": False}


@async_test
async def test_a_held_outbox_takes_frames_and_writes_none() -> None:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        outbox = Outbox(ws, request.transport)
        outbox.send("first")
        outbox.held = True
        assert outbox.send("dropped")
        await asyncio.sleep(0)
        outbox.held = False
        outbox.send("second")
        await ws.receive()
        return ws

    async with served(_app(handler)) as url, aiohttp.ClientSession() as http, http.ws_connect(f"{url}/ws") as ws:
        assert await ws.receive_str() == "second"  # "first" was still queued when the outbox was held
        await ws.close()
