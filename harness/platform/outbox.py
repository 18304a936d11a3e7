"""One writer task per WebSocket: senders enqueue without awaiting, frames leave in order."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSCloseCode, web


class Outbox:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._write())
        self.held = False  # a hung connection: frames are taken and never written

    def send(self, text: str) -> bool:
        """Queue a text frame; False when the socket is already closing (the caller decides what that means)."""
        if self.ws.closed or self._task.done():
            return False
        if self.held:
            return True
        self._queue.put_nowait(text)
        return True

    async def _write(self) -> None:
        while (text := await self._queue.get()) is not None:
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def aclose(self) -> None:
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), 1.0)
        self._task.cancel()


def ws_error_kind(ws: web.WebSocketResponse) -> str:
    """How a WebSocket read failed, as a bad-input counter name (aiohttp already closed it, 1009 if too big)."""
    exc = ws.exception()
    return "oversize_frame" if getattr(exc, "code", None) == WSCloseCode.MESSAGE_TOO_BIG else "ws_protocol_error"
