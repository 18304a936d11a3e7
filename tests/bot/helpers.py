"""Real emulator + reference bot in one event loop, and a simulated user on the emulator's user side."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from harness.platform import AppConfig, PlatformServer, Settings
from reference_bot.bot import ReferenceBot
from reference_bot.config import Secrets, load_config
from tests.aio import async_test, wait_for  # noqa: F401  (shared by this area's tests)

APP, SECRET = "app-bot-test", "bot-test-secret-value"
JWT_KEY, ADMIN_PASSWORD = "jwt-key-for-tests-0123456789abcdef", "admin-pass-for-tests"
DEADLINE = 30.0  # generous: the machine is shared

# Fast defaults for tests: quick engine, short reconnect delays, no jitter.
FAST = {
    "engine.first_token_seconds": 0.0,
    "engine.tokens_per_second": 0.0,
    "engine.reply_tokens": 12,
    "engine.chunk_tokens": 4,
    "engine.cpu_ms_per_token": 0.0,
    "reconnect.initial_delay_seconds": 0.05,
    "reconnect.max_delay_seconds": 0.4,
    "reconnect.jitter": 0.0,
    "reconnect.disconnect_grace_seconds": 2.0,
    "channels.enterprise_chat.retry_policy.initial_delay_seconds": 0.01,
}


def platform_settings(**changes: Any) -> Settings:
    base = Settings(
        apps=(AppConfig(app_id=APP, secret=SECRET),), ping_interval_s=0, ack_timeout_s=2.0, reply_timeout_s=20.0
    )
    return base.with_changes(**changes)


def bot_config(platform_url: str, **overrides: Any) -> Any:
    values = {**FAST, "platform.endpoint": platform_url, "platform.client_id": APP}
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(None, values)


def secrets() -> Secrets:
    return Secrets.load(
        env={"DINGTALK_CLIENT_SECRET": SECRET, "BOT_JWT_SECRET": JWT_KEY, "BOT_ADMIN_PASSWORD": ADMIN_PASSWORD}
    )


@contextlib.asynccontextmanager
async def running(
    faults: dict[str, Any] | None = None, platform: dict[str, Any] | None = None, connect: bool = True, **bot: Any
) -> AsyncIterator[tuple[PlatformServer, ReferenceBot]]:
    """An emulator and a connected reference bot; `bot` overrides use __ for dots (engine__reply_tokens=3)."""
    async with PlatformServer(platform_settings(**(platform or {})), faults) as srv:
        ref = ReferenceBot(bot_config(srv.url, **bot), secrets())
        await ref.start()
        try:
            if connect:
                await asyncio.wait_for(ref.stream.connected_event.wait(), DEADLINE)
            yield srv, ref
        finally:
            await ref.stop(drain_seconds=2.0)


class User:
    """A simulated employee on the emulator's user WebSocket."""

    _ids = itertools.count(1)

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, user_id: str) -> None:
        self.ws = ws
        self.user_id = user_id
        self.pending: list[dict[str, Any]] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, user_id: str = "u1") -> AsyncIterator[User]:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/user?userId={user_id}") as ws:
            yield cls(ws, user_id)

    async def send(self, text: str, conversation: str = "cid-1", kind: str = "1") -> str:
        client_msg_id = f"{self.user_id}-{next(self._ids)}"
        frame = {
            "type": "message",
            "clientMsgId": client_msg_id,
            "conversationId": conversation,
            "conversationType": kind,
            "text": text,
            "atBot": True,
        }
        await self.ws.send_str(json.dumps(frame))
        return client_msg_id

    async def action(self, kind: str, conversation: str) -> str:
        client_msg_id = f"{self.user_id}-{next(self._ids)}"
        await self.ws.send_str(json.dumps({"type": kind, "clientMsgId": client_msg_id, "conversationId": conversation}))
        return client_msg_id

    async def until(self, client_msg_id: str, kind: str = "reply", timeout: float = DEADLINE) -> list[dict[str, Any]]:
        """Everything received for client_msg_id up to and including its first frame of `kind`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = [f for f in self.pending if f.get("clientMsgId") == client_msg_id]
        self.pending = [f for f in self.pending if f.get("clientMsgId") != client_msg_id]
        while not any(f["type"] in (kind, "error") for f in seen):
            msg = await asyncio.wait_for(self.ws.receive(), max(0.01, deadline - loop.time()))
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            frame = json.loads(msg.data)
            (seen if frame.get("clientMsgId") == client_msg_id else self.pending).append(frame)
        return seen
