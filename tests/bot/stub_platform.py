"""A scripted stream server on a real socket, for what the emulator never sends on purpose:
malformed frames, unknown topics, a peer that stops answering pings. Every ACK is recorded."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from tests.bot.helpers import DEADLINE


class StubPlatform:
    def __init__(self, autoping: bool = True) -> None:
        self.autoping = autoping
        self.url = ""
        self.sockets: list[web.WebSocketResponse] = []
        self.connected = asyncio.Event()
        self.acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.webhook_bodies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.webhook_failures: list[int] = []  # statuses to answer the next webhook calls with
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> StubPlatform:
        app = web.Application()
        app.router.add_post("/v1.0/gateway/connections/open", self._open)
        app.router.add_get("/connect", self._stream)
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in self.sockets:
            await ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _open(self, request: web.Request) -> web.Response:
        return web.json_response({"endpoint": self.url.replace("http", "ws") + "/connect", "ticket": "t1"})

    async def _hook(self, request: web.Request) -> web.Response:
        if self.webhook_failures:
            status = self.webhook_failures.pop(0)
            return web.json_response({"code": "ServiceUnavailable", "message": "scripted failure"}, status=status)
        self.webhook_bodies.put_nowait(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=self.autoping)
        await ws.prepare(request)
        self.sockets.append(ws)
        self.connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.acks.put_nowait(json.loads(msg.data))
        return ws

    async def send(self, frame: str | dict[str, Any]) -> None:
        await asyncio.wait_for(self.connected.wait(), DEADLINE)
        await self.sockets[-1].send_str(frame if isinstance(frame, str) else json.dumps(frame))

    async def next_ack(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.acks.get(), DEADLINE)

    def robot_message(self, message_id: str, data: Any, topic: str = "/v1.0/im/bot/messages/get") -> dict[str, Any]:
        return {
            "specVersion": "1.0",
            "type": "CALLBACK",
            "headers": {"messageId": message_id, "topic": topic, "contentType": "application/json"},
            "data": data if isinstance(data, str) else json.dumps(data),
        }

    def text_data(self, msg_id: str, text: str) -> dict[str, Any]:
        return {
            "msgId": msg_id,
            "conversationId": "cid-s",
            "conversationType": "1",
            "msgtype": "text",
            "text": {"content": text},
            "senderStaffId": "s1",
            "sessionWebhook": f"{self.url}/hook",
            "sessionWebhookExpiredTime": 4_102_444_800_000,
        }
