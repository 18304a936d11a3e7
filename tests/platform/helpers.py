"""Clients for the emulator tests: a minimal stream bot and a simulated user, both over real sockets."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from harness.platform import AppConfig, PlatformServer, Settings
from harness.platform.clock import Clock
from tests.aio import async_test  # noqa: F401  (shared by this area's tests)
from tests.aio import wait_for as poll  # noqa: F401

APP, SECRET = "app-test", "s3cret-test"
DEADLINE = 20.0  # generous: the machine is shared


def settings(**changes: Any) -> Settings:
    base = Settings(
        apps=(AppConfig(app_id=APP, secret=SECRET),), ping_interval_s=0, ack_timeout_s=2.0, reply_timeout_s=10.0
    )
    return base.with_changes(**changes)


class SteppedClock(Clock):
    """The system clocks plus whatever the test stepped forward: a test passes a timeout by calling
    step() instead of sleeping through it, and nothing times out before it steps."""

    def __init__(self) -> None:
        self.offset = 0.0

    def step(self, seconds: float) -> None:
        self.offset += seconds

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def wall(self) -> float:
        return time.time() + self.offset


def server(faults: dict[str, Any] | None = None, clock: Clock | None = None, **changes: Any) -> PlatformServer:
    return PlatformServer(settings(**changes), faults, clock=clock or Clock())


class Bot:
    """A stream client speaking the protocol by hand, so tests see every frame."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws

    @classmethod
    async def connect(
        cls,
        http: aiohttp.ClientSession,
        url: str,
        app: str = APP,
        secret: str = SECRET,
        subscriptions: list[dict[str, str]] | None = None,
        autoping: bool = True,
    ) -> Bot:
        body: dict[str, Any] = {"clientId": app, "clientSecret": secret, "ua": "test", "localIp": "127.0.0.1"}
        if subscriptions is not None:
            body["subscriptions"] = subscriptions
        async with http.post(f"{url}/v1.0/gateway/connections/open", json=body) as resp:
            assert resp.status == 200, await resp.text()
            opened = await resp.json()
        ws = await http.ws_connect(f"{opened['endpoint']}?ticket={opened['ticket']}", autoping=autoping)
        return cls(http, ws)

    async def frame(self, kind: str | None = None, timeout: float = DEADLINE) -> dict[str, Any]:
        """The next server frame (of `kind`, skipping SYSTEM pings when another kind is asked for)."""
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), timeout)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            frame = json.loads(msg.data)
            if kind is None or frame["type"] == kind:
                return frame

    async def ack(self, frame: dict[str, Any], code: int = 200, data: dict[str, Any] | None = None) -> None:
        await self.ws.send_str(
            json.dumps(
                {
                    "code": code,
                    "headers": {"messageId": frame["headers"]["messageId"], "contentType": "application/json"},
                    "message": "OK",
                    "data": json.dumps(data or {}),
                }
            )
        )

    async def token(self, url: str, app: str = APP, secret: str = SECRET) -> str:
        async with self.http.post(f"{url}/v1.0/oauth2/accessToken", json={"appKey": app, "appSecret": secret}) as r:
            assert r.status == 200, await r.text()
            return (await r.json())["accessToken"]


class User:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, user_id: str) -> None:
        self.ws = ws
        self.user_id = user_id
        self._n = 0

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, url: str, user_id: str = "u1") -> User:
        return cls(await http.ws_connect(f"{url}/user?userId={user_id}&nick=Nick-{user_id}"), user_id)

    async def send(self, text: str = "hello", conversation: str = "cid-1", **extra: Any) -> str:
        self._n += 1
        client_msg_id = f"{self.user_id}-{self._n}"
        await self.ws.send_str(
            json.dumps(
                {"type": "message", "clientMsgId": client_msg_id, "conversationId": conversation, "text": text, **extra}
            )
        )
        return client_msg_id

    async def expect(self, kind: str, timeout: float = DEADLINE) -> dict[str, Any]:
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), timeout)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            payload = json.loads(msg.data)
            if payload["type"] == kind:
                return payload
            assert payload["type"] in ("accepted", "chunk"), payload
