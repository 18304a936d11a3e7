"""The frames the emulator sends on one WebSocket: in order, without awaiting, and batched.

send() encodes a text frame (RFC 6455 5.2: FIN, opcode 1, unmasked as every server frame is, no
extension) and keeps it; the frames kept in one turn of the event loop leave in one write to the
socket's transport, after the callbacks of that turn (one push per user message to a busy bot
connection is one system call per turn, not one per frame, and there is no writer task to wake).

A slow reader is no different than before: what it has not read stays in the transport's buffer, as it
stayed in the writer task's queue. aiohttp still writes the control frames (pong, close) itself; a
frame is always written whole, so the two never interleave inside a frame. Nothing is written once the
WebSocket is closing.
"""

from __future__ import annotations

import asyncio

from aiohttp import WSCloseCode, web

from harness.core.wsframe import OPCODE_TEXT, frame_header


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final WebSocket text frame carrying `payload` (UTF-8)."""
    return frame_header(OPCODE_TEXT, len(payload), masked=False) + payload


class Outbox:
    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> None:
        """`ws`: a prepared WebSocketResponse without compression; `transport`: its request's transport
        (None: every send is refused, as on a closed socket)."""
        self.ws = ws
        self.held = False  # a hung connection: frames are taken and never written
        self.written = 0  # frames handed to the transport
        self._transport = transport
        self._frames: list[bytes] = []
        self._loop = asyncio.get_running_loop()
        self._closed = False

    def send(self, text: str | bytes) -> bool:
        """Queue a text frame (JSON text, or its UTF-8 bytes); False when the socket is already closing
        (the caller decides what that means)."""
        if self._closed or self.ws.closed or self._transport is None or self._transport.is_closing():
            return False
        if self.held:
            return True
        if not self._frames:
            self._loop.call_soon(self._flush)
        self._frames.append(text_frame(text.encode() if isinstance(text, str) else text))
        return True

    def _flush(self) -> None:
        frames, self._frames = self._frames, []
        if not frames or self.held or self.ws.closed or self._transport is None or self._transport.is_closing():
            return
        self._transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        self.written += len(frames)

    async def aclose(self) -> None:
        """Write what is queued (if the socket still takes it); later sends are refused."""
        self._flush()
        self._closed = True


def ws_error_kind(ws: web.WebSocketResponse) -> str:
    """How a WebSocket read failed, as a bad-input counter name (aiohttp already closed it, 1009 if too big)."""
    exc = ws.exception()
    return "oversize_frame" if getattr(exc, "code", None) == WSCloseCode.MESSAGE_TOO_BIG else "ws_protocol_error"
