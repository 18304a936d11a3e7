"""The load generator's WebSocket client against a real `websockets` server on loopback (a thread)."""

import contextlib
import subprocess
import sys
import threading

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.sync.server import serve

from harness.loadgen.wsclient import WebSocket, WebSocketClosed

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
