"""A WebSocket client for gevent greenlets, on the Sans-I/O protocol of `websockets`.

Why not websocket-client: it reads every frame with three or more socket reads and checks the UTF-8
of each text frame in pure Python, which took over half of a Locust worker's CPU. Here one read takes
whatever the kernel has (up to RECV_BYTES, so every frame that arrived together is parsed at once),
`websockets` does the framing, and a text message is handed over as bytes: the caller's JSON parser
(orjson) checks its UTF-8 in C.
"""

from __future__ import annotations

import contextlib
import socket

import gevent.lock
import gevent.socket
import gevent.ssl
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidURI
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

RECV_BYTES = 65536
MAX_MESSAGE_BYTES = 2**20


class WebSocketClosed(Exception):
    """The connection is over (closed by either side, or the handshake failed)."""


class WebSocket:
    """One client connection. `receive()` from one greenlet; `send_text()` / `ping()` from any."""

    def __init__(self, url: str, timeout: float) -> None:
        """Connect and complete the opening handshake within `timeout` seconds (WebSocketClosed or OSError)."""
        try:
            uri = parse_uri(url)
        except InvalidURI as exc:
            raise WebSocketClosed(str(exc)) from None
        self.protocol = ClientProtocol(uri, max_size=MAX_MESSAGE_BYTES)
        self._write_lock = gevent.lock.Semaphore()  # one frame's bytes at a time on the socket
        self._early: list = []  # frames that came in the same read as the handshake response
        self._fragments: list[bytes] = []
        sock = gevent.socket.create_connection((uri.host, uri.port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if uri.secure:
                sock = gevent.ssl.create_default_context().wrap_socket(sock, server_hostname=uri.host)
            self.sock = sock
            self.protocol.send_request(self.protocol.connect())
            self._flush()
            while self.protocol.state is State.CONNECTING:
                self._feed(sock.recv(RECV_BYTES))
                if self.protocol.handshake_exc is not None:
                    raise WebSocketClosed(f"handshake failed: {self.protocol.handshake_exc}")
                # the first event is the handshake response; anything after it is already a frame
                self._early = self.protocol.events_received()[1:]
            sock.settimeout(None)
        except (OSError, InvalidHandshake, WebSocketClosed):
            sock.close()
            raise

    def _feed(self, data: bytes) -> None:
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
            if self.protocol.state is State.CONNECTING:
                raise WebSocketClosed("the server closed the connection during the handshake")

    def _flush(self) -> None:
        with self._write_lock:
            for data in self.protocol.data_to_send():
                if data:
                    self._send_all(data)
                else:  # the protocol is done writing: half-close
                    with contextlib.suppress(OSError):
                        self.sock.shutdown(socket.SHUT_WR)

    def _send_all(self, data: bytes) -> None:
        # gevent's sendall() asks the kernel for the socket's buffer size on every call; a frame almost
        # always goes out in one send()
        sent = self.sock.send(data)
        if sent < len(data):
            self.sock.sendall(memoryview(data)[sent:])

    def send_text(self, data: bytes) -> None:
        """Send one text message (`data` must be UTF-8)."""
        self.protocol.send_text(data)
        self._flush()

    def ping(self) -> None:
        self.protocol.send_ping(b"")
        self._flush()

    def receive(self) -> list[bytes]:
        """Block until the next read; the complete data messages in it (often one, maybe none: a control
        frame or part of a message). Answers pings and close frames. WebSocketClosed once it is over."""
        if self.protocol.state is not State.OPEN:
            raise WebSocketClosed(f"closed ({self.protocol.close_code})")
        if self._early:
            frames, self._early = self._early, []
        else:
            self._feed(self.sock.recv(RECV_BYTES))
            frames = self.protocol.events_received()
        messages = []
        control = False
        for frame in frames:
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if frame.fin:
                    messages.append(frame.data)
                else:
                    self._fragments = [frame.data]
            elif opcode is Opcode.CONT:
                self._fragments.append(frame.data)
                if frame.fin:
                    messages.append(b"".join(self._fragments))
                    self._fragments = []
            else:
                control = True  # ping (pong queued), pong, or close (echo queued)
        if control or self.protocol.state is not State.OPEN:
            self._flush()
        return messages

    def close(self) -> None:
        """Send a close frame if still open, then close the socket (without waiting for the answer)."""
        with contextlib.suppress(OSError):
            if self.protocol.state is State.OPEN:
                self.protocol.send_close(1000)
                self._flush()
        self.sock.close()
