"""The load generator's WebSocket client against a real `websockets` server on loopback (a thread)."""

import contextlib
import subprocess
import sys
import threading

import pytest
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.streams import StreamReader
from websockets.sync.server import serve

from harness.loadgen.wsclient import (
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    ProtocolError,
    WebSocket,
    WebSocketClosed,
    decode_frames,
    encode_frame,
)

pytestmark = pytest.mark.integration
TIMEOUT_S = 10


@contextlib.contextmanager
def server(handler, process_request=None):
    with serve(handler, "127.0.0.1", 0, process_request=process_request, compression=None) as srv:
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{srv.socket.getsockname()[1]}/user?userId=u1"
        finally:
            srv.shutdown()
            thread.join(TIMEOUT_S)


def receive_n(ws: WebSocket, n: int) -> list[bytes]:
    got: list[bytes] = []
    for _ in range(100 * n):  # bounded: a read may hold less than one message
        if len(got) >= n:
            break
        got.extend(ws.receive())
    return got


def test_text_messages_round_trip_in_order_as_bytes():
    def echo(conn):
        for message in conn:
            conn.send(message)

    with server(echo) as url:
        ws = WebSocket(url, TIMEOUT_S)
        try:
            sent = [f'{{"n": {i}, "text": "h\u00e9llo"}}'.encode() for i in range(50)]
            for data in sent:
                ws.send_text(data)
            assert receive_n(ws, 50) == sent
        finally:
            ws.close()


def test_frames_sent_with_the_handshake_response_and_fragmented_messages_arrive_whole():
    def greet_then_fragment(conn):
        conn.send("first")  # often in the same TCP read as the 101 response
        conn.send(["frag", "mented"])  # a message in three frames: text, continuation, continuation
        conn.recv()

    with server(greet_then_fragment) as url:
        ws = WebSocket(url, TIMEOUT_S)
        try:
            assert receive_n(ws, 2) == [b"first", b"fragmented"]
        finally:
            ws.close()


def test_server_pings_are_answered_and_a_server_close_ends_the_connection():
    ponged = threading.Event()

    def ping_then_close(conn):
        if conn.ping().wait(TIMEOUT_S):
            ponged.set()
        conn.send("after the pong")
        conn.close()

    with server(ping_then_close) as url:
        ws = WebSocket(url, TIMEOUT_S)
        try:
            assert receive_n(ws, 1) == [b"after the pong"]
            assert ponged.is_set()
            with pytest.raises(WebSocketClosed):
                for _ in range(100):
                    ws.receive()
        finally:
            ws.close()


def test_a_refused_handshake_is_websocket_closed():
    def refuse(conn, request):
        return Response(400, "Bad Request", Headers(), b"userId query parameter is required")

    with server(lambda conn: None, process_request=refuse) as url, pytest.raises(WebSocketClosed, match="400"):
        WebSocket(url, TIMEOUT_S)


def test_the_client_loads_no_asyncio():
    """The load generator lives in gevent; only websockets' Sans-I/O layer may come in (pyproject's contract)."""
    code = "import sys, harness.loadgen.wsclient; print('asyncio' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    return Frame(Opcode(opcode), payload, fin=fin).serialize(mask=False, extensions=[])


def test_frames_are_decoded_across_every_length_form_and_a_partial_frame_is_left_over():
    payloads = [b"", b"x" * 125, b"y" * 126, b"z" * 70_000]
    wire = b"".join(server_frame(0x1, p) for p in payloads) + server_frame(0x2, b"next")[:3]
    frames, rest = decode_frames(wire)
    assert frames == [(0x1, True, p) for p in payloads]
    assert rest == server_frame(0x2, b"next")[:3]
    more, rest = decode_frames(rest + server_frame(0x2, b"next")[3:])
    assert more == [(0x2, True, b"next")] and rest == b""
    # every header cut short waits for its end
    long_frame = server_frame(0x1, b"z" * 70_000)
    for cut in (1, 2, 3, 9, 10, len(long_frame) - 1):
        assert decode_frames(long_frame[:cut]) == ([], long_frame[:cut])


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (encode_frame(0x1, b"masked", b"\x05\x06\x07\x08"), CLOSE_PROTOCOL_ERROR),
        (bytes((0xC1, 1)) + b"x", CLOSE_PROTOCOL_ERROR),  # RSV1 (compressed) though nothing was negotiated
        (bytes((0x83, 0)), CLOSE_PROTOCOL_ERROR),  # an opcode RFC 6455 reserves
        (bytes((0x09, 0)), CLOSE_PROTOCOL_ERROR),  # a fragmented ping
        (server_frame(0x1, b"x" * 200), CLOSE_TOO_BIG),
    ],
    ids=["masked", "reserved-bit", "reserved-opcode", "fragmented-ping", "too-big"],
)
def test_what_a_server_must_not_send_is_a_protocol_error(wire, code):
    with pytest.raises(ProtocolError) as raised:
        decode_frames(wire, max_size=100)
    assert raised.value.code == code


def test_client_frames_are_masked_and_parse_back():
    data = "h\u00e9llo".encode() * 40_000
    for payload in (b"", b"short", data[:300], data):
        wire = encode_frame(0x1, payload, b"\x01\x02\x03\x04")
        assert wire[1] & 0x80  # masked
        reader = StreamReader()
        reader.feed_data(wire)
        parser = Frame.parse(reader.read_exact, mask=True, max_size=None, extensions=[])
        with pytest.raises(StopIteration) as done:
            next(parser)
        assert done.value.value.data == payload and done.value.value.opcode is Opcode.TEXT


def test_a_protocol_error_from_the_server_closes_the_connection():
    def send_masked(conn):
        conn.socket.sendall(Frame(Opcode.TEXT, b"masked").serialize(mask=True, extensions=[]))
        with contextlib.suppress(Exception):
            conn.recv(TIMEOUT_S)

    with server(send_masked) as url:
        ws = WebSocket(url, TIMEOUT_S)
        try:
            with pytest.raises(WebSocketClosed, match="masked"):
                for _ in range(100):
                    ws.receive()
            assert ws.close_code == CLOSE_PROTOCOL_ERROR
            with pytest.raises(WebSocketClosed):
                ws.send_text(b"{}")
        finally:
            ws.close()
