"""A WebSocket client for gevent greenlets: the opening handshake by `websockets`, the frames by a small codec.

Why not websocket-client: it reads every frame with three or more socket reads and checks the UTF-8
of each text frame in pure Python, which took over half of a Locust worker's CPU. Why not `websockets`'
Sans-I/O protocol for the frames too: its generator-based parser and frame objects cost about 15 us per
round trip in Python, as much as the rest of the harness's bookkeeping of a message. So `websockets`
does what is subtle (the URI, the handshake and its checks, the error response) and a client's side of
RFC 6455 framing is done here: unmasked frames from the server (no extension is ever negotiated, so
every RSV bit must be 0), masked frames to it, pings answered, a close echoed. One read takes whatever
the kernel has (up to RECV_BYTES, so every frame that arrived together is parsed at once) and a text
message is handed over as bytes: the caller's JSON parser (orjson) checks its UTF-8 in C.
"""

from __future__ import annotations

import contextlib
import os
import socket

import gevent.lock
import gevent.socket
import gevent.ssl
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidURI
from websockets.protocol import State
from websockets.uri import parse_uri

from harness.core.wsframe import frame_header

try:  # websockets' C accelerator, built on every platform with wheels
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

RECV_BYTES = 65536
MAX_MESSAGE_BYTES = 2**20
HEADERS_MAX_BYTES = 65536

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG = 1000, 1002, 1009
_MASK_POOL_KEYS = 1024  # masking keys fetched from os.urandom at a time (one system call, not one per frame)


class WebSocketClosed(Exception):
    """The connection is over (closed by either side, or the handshake failed)."""


class _MaskKeys:
    """Unpredictable 4-byte masking keys (RFC 6455 5.3), from os.urandom a pool at a time."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> bytes:
        at = self._at
        if at >= len(self._pool):
            self._pool, at = os.urandom(4 * _MASK_POOL_KEYS), 0
        self._at = at + 4
        return self._pool[at : at + 4]


_mask_keys = _MaskKeys()


def encode_frame(opcode: int, payload: bytes, mask: bytes) -> bytes:
    """One final client frame, masked with `mask` (4 bytes)."""
    return frame_header(opcode, len(payload), masked=True) + mask + apply_mask(payload, mask)


class ProtocolError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def decode_frames(data: bytes, max_size: int = MAX_MESSAGE_BYTES) -> tuple[list[tuple[int, bool, bytes]], bytes]:
    """The complete server frames at the start of `data` as (opcode, fin, payload), and the bytes left over
    (the start of a frame still on its way). ProtocolError for what a server must not send."""
    frames = []
    pos, end = 0, len(data)
    while end - pos >= 2:
        b0, b1 = data[pos], data[pos + 1]
        if b1 & 0x80:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "a server frame was masked")
        if b0 & 0x70:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set without an extension")
        n = b1 & 0x7F
        start = pos + 2
        if n == 126:
            if end - pos < 4:
                break
            n = (data[pos + 2] << 8) | data[pos + 3]
            start = pos + 4
        elif n == 127:
            if end - pos < 10:
                break
            n = int.from_bytes(data[pos + 2 : pos + 10], "big")
            start = pos + 10
        opcode, fin = b0 & 0x0F, bool(b0 & 0x80)
        if opcode >= CLOSE:
            if opcode > PONG:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
            if n > 125 or not fin:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "a fragmented or oversized control frame")
        elif opcode > BINARY:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if n > max_size:
            raise ProtocolError(CLOSE_TOO_BIG, f"a frame of {n} bytes (at most {max_size})")
        if end - start < n:
            break
        pos = start + n
        frames.append((opcode, fin, data[start:pos]))
    return frames, data[pos:]


class WebSocket:
    """One client connection. `receive()` from one greenlet; `send_text()` / `ping()` from any."""

    def __init__(self, url: str, timeout: float) -> None:
        """Connect and complete the opening handshake within `timeout` seconds (WebSocketClosed or OSError)."""
        try:
            uri = parse_uri(url)
        except InvalidURI as exc:
            raise WebSocketClosed(str(exc)) from None
        self.max_size = MAX_MESSAGE_BYTES
        self.open = False
        self.close_code: int | None = None
        self._write_lock = gevent.lock.Semaphore()  # one frame's bytes at a time on the socket
        self._rest = b""  # the start of a frame whose end has not come yet
        self._unparsed = False  # _rest may hold whole frames (they came with the handshake response)
        self._fragments: list[bytes] = []  # of a message not yet whole
        self._fragmented = False
        self._fragment_bytes = 0
        sock = gevent.socket.create_connection((uri.host, uri.port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if uri.secure:
                sock = gevent.ssl.create_default_context().wrap_socket(sock, server_hostname=uri.host)
            self.sock = sock
            self._handshake(ClientProtocol(uri, max_size=MAX_MESSAGE_BYTES))
            sock.settimeout(None)
        except (OSError, InvalidHandshake, WebSocketClosed):
            sock.close()
            raise
        self.open = True

    def _handshake(self, protocol: ClientProtocol) -> None:
        """`websockets` checks the response; only the response's own bytes are given to it, what follows
        them is already frames (kept in _rest)."""
        protocol.send_request(protocol.connect())
        for data in protocol.data_to_send():
            self.sock.sendall(data)
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.sock.recv(RECV_BYTES)
            if not data:
                raise WebSocketClosed("the server closed the connection during the handshake")
            head += data
            if len(head) > HEADERS_MAX_BYTES and b"\r\n\r\n" not in head:
                raise WebSocketClosed("handshake failed: response headers too long")
        end = head.index(b"\r\n\r\n") + 4
        protocol.receive_data(head[:end])
        rest = head[end:]
        if protocol.state is State.OPEN:
            if protocol.extensions:  # pragma: no cover - none is offered, websockets refuses any in the response
                raise WebSocketClosed("handshake failed: the server negotiated an extension")
            self._rest, self._unparsed = rest, bool(rest)
            return
        # not switching protocols: the rest (an error body) lets websockets say why
        if rest:
            protocol.receive_data(rest)
        while protocol.handshake_exc is None and protocol.state is State.CONNECTING:
            data = self.sock.recv(RECV_BYTES)
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
                break
        raise WebSocketClosed(f"handshake failed: {protocol.handshake_exc}")

    def _write(self, data: bytes) -> None:
        with self._write_lock:
            # gevent's sendall() asks the kernel for the socket's buffer size on every call; a frame almost
            # always goes out in one send()
            sent = self.sock.send(data)
            if sent < len(data):
                self.sock.sendall(memoryview(data)[sent:])

    def send_text(self, data: bytes) -> None:
        """Send one text message (`data` must be UTF-8)."""
        if not self.open:
            raise WebSocketClosed(f"closed ({self.close_code})")
        self._write(encode_frame(TEXT, data, _mask_keys.next()))

    def ping(self) -> None:
        if not self.open:
            raise WebSocketClosed(f"closed ({self.close_code})")
        self._write(encode_frame(PING, b"", _mask_keys.next()))

    def receive(self) -> list[bytes]:
        """Block until the next read; the complete data messages in it (often one, maybe none: a control
        frame or part of a message). Answers pings and close frames. WebSocketClosed once it is over."""
        if not self.open:
            raise WebSocketClosed(f"closed ({self.close_code})")
        if self._unparsed:
            data, self._unparsed = self._rest, False
        else:
            data = self.sock.recv(RECV_BYTES)
            if not data:
                self._closed(None)
                raise WebSocketClosed("the server closed the connection without a close frame")
            if self._rest:
                data = self._rest + data
        try:
            frames, self._rest = decode_frames(data, self.max_size)
        except ProtocolError as exc:
            self._fail(exc.code, str(exc))
        messages = []
        for opcode, fin, payload in frames:
            if opcode in (TEXT, BINARY):
                if self._fragmented:
                    self._fail(CLOSE_PROTOCOL_ERROR, "a new message before the end of a fragmented one")
                if fin:
                    messages.append(payload)
                else:
                    self._fragments, self._fragmented, self._fragment_bytes = [payload], True, len(payload)
            elif opcode == CONT:
                if not self._fragmented:
                    self._fail(CLOSE_PROTOCOL_ERROR, "a continuation frame without a message")
                self._fragments.append(payload)
                self._fragment_bytes += len(payload)
                if self._fragment_bytes > self.max_size:
                    self._fail(CLOSE_TOO_BIG, f"a message over {self.max_size} bytes")
                if fin:
                    messages.append(b"".join(self._fragments))
                    self._fragments, self._fragmented = [], False
            elif opcode == PING:
                with contextlib.suppress(OSError):
                    self._write(encode_frame(PONG, payload, _mask_keys.next()))
            elif opcode == CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                with contextlib.suppress(OSError):  # echo the close, then the server closes the TCP connection
                    self._write(encode_frame(CLOSE, payload[:2], _mask_keys.next()))
                self._closed(code)
                break  # nothing may follow a close frame
            # a pong needs nothing
        return messages

    def _closed(self, code: int | None) -> None:
        self.open = False
        self.close_code = code
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def _fail(self, code: int, reason: str) -> None:
        """The server broke the protocol: close with `code` and end the connection."""
        with contextlib.suppress(OSError):
            self._write(encode_frame(CLOSE, code.to_bytes(2, "big"), _mask_keys.next()))
        self._closed(code)
        raise WebSocketClosed(f"protocol error: {reason}")

    def close(self) -> None:
        """Send a close frame if still open, then close the socket (without waiting for the answer)."""
        if self.open:
            self.open = False
            self.close_code = CLOSE_NORMAL
            with contextlib.suppress(OSError):
                self._write(encode_frame(CLOSE, CLOSE_NORMAL.to_bytes(2, "big"), _mask_keys.next()))
        self.sock.close()
