"""One simulated employee's WebSocket to the emulator's user side (docs/protocol.md).

Sends never wait for replies (open loop). A reader greenlet matches `chunk` / `reply` / `event` /
`error` frames to the pending sends by clientMsgId; latency is taken from each send's *intended*
time, so a stalled bot shows as latency, not as fewer sends (no coordinated omission).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import gevent
import orjson

from harness.loadgen.locuststats import LocustStats
from harness.loadgen.recorder import WindowRecorder
from harness.loadgen.wsclient import WebSocket, WebSocketClosed

CONNECT_TIMEOUT_S = 15.0


class Pending:
    """One send waiting for its answer, made just before the send goes out."""

    __slots__ = ("behind_s", "created", "expect", "first_chunk", "intended", "kind", "msg_id", "name")

    def __init__(self, intended: float, kind: str, name: str, expect: str = "") -> None:
        self.intended = intended  # unix seconds: the schedule's send time, on the time map's (wall) clock
        self.kind = kind  # "message" (counts toward the SLA) or "join" / "leave" (Locust stats only)
        self.name = name  # Locust request name
        self.expect = expect  # text the final reply must contain (the /test smoke check)
        self.msg_id = ""
        self.first_chunk: float | None = None  # monotonic
        # How late the send began, read once against the wall schedule; what follows is timed on the
        # monotonic clock, so a wall clock step during a reply does not bend its latency.
        self.created = time.monotonic()
        self.behind_s = time.time() - intended

    def since_intended(self, now: float) -> float:
        """Seconds from the intended send time to `now` (time.monotonic())."""
        return self.behind_s + now - self.created


class ChatSocket:
    def __init__(self, url: str, recorder: WindowRecorder, locust_stats: LocustStats, reply_timeout_s: float):
        self.recorder = recorder
        self.locust_stats = locust_stats  # Locust's own stats stay visible in its CSV / UI
        self.reply_timeout_s = reply_timeout_s
        self.pending: dict[str, Pending] = {}
        self.retiring = False
        self.closed = False
        self.ws = WebSocket(url, CONNECT_TIMEOUT_S)
        self.reader = gevent.spawn(self._read_forever)

    def send(self, client_msg_id: str, frame: dict[str, Any], pending: Pending) -> bool:
        """Send one frame; False (and the failure recorded) when the socket is gone."""
        self.pending[client_msg_id] = pending
        try:
            self.ws.send_text(orjson.dumps(frame))
            return True
        except (WebSocketClosed, OSError) as exc:
            self._fail(client_msg_id, "send failed", str(exc) or type(exc).__name__)
            return False

    def _read_forever(self) -> None:
        try:
            while True:
                for text in self.ws.receive():
                    self._on_frame(orjson.loads(text))
        except (WebSocketClosed, OSError, ValueError):
            pass
        finally:
            self.closed = True
            for cid in list(self.pending):
                self._fail(cid, "connection lost", "the user WebSocket closed before the reply")

    def _on_frame(self, frame: dict[str, Any]) -> None:
        cid = frame.get("clientMsgId", "")
        pending = self.pending.get(cid)
        if pending is None:
            return  # a reply after its timeout was already counted as "no reply"
        kind = frame.get("type")
        if kind == "reply" or kind == "event":  # the common case first
            now = time.monotonic()
            del self.pending[cid]
            content = str(frame["content"] if "content" in frame else frame.get("status", ""))
            if pending.expect and pending.expect.lower() not in content.lower():
                self._report(pending, now, f"smoke check failed: reply lacks {pending.expect!r}")
                if pending.kind == "message":
                    self.recorder.failure(pending.intended, "smoke check failed")
                return
            latency = pending.behind_s + now - pending.created
            self.locust_stats.success(pending.name, latency * 1000, len(content))
            if pending.kind == "message":
                first = latency if pending.first_chunk is None else pending.since_intended(pending.first_chunk)
                self.recorder.reply(pending.intended, latency, first)
        elif kind == "chunk":
            if pending.first_chunk is None:
                pending.first_chunk = time.monotonic()
        elif kind == "accepted":
            pending.msg_id = frame.get("msgId", "")
        elif kind == "error":
            self._fail(cid, "rejected", str(frame.get("error", "")))

    def _fail(self, client_msg_id: str, kind: str, detail: str, timeout: bool = False) -> None:
        pending = self.pending.pop(client_msg_id, None)
        if pending is None:
            return
        self._report(pending, time.monotonic(), f"{kind}: {detail}" if detail else kind)
        if pending.kind == "message":
            self.recorder.failure(
                pending.intended, kind, timeout=timeout, client_msg_id=client_msg_id, msg_id=pending.msg_id
            )

    def _report(self, pending: Pending, now: float, error: str | None, length: int = 0) -> None:
        response_time_ms = pending.since_intended(now) * 1000
        if error is None:
            self.locust_stats.success(pending.name, response_time_ms, length)
        else:
            self.locust_stats.failure(pending.name, response_time_ms, error)

    def sweep(self, now: float) -> None:
        """Fail sends whose reply is overdue at `now` (time.monotonic()). Pending is in send order, so stop
        at the first one not due."""
        while self.pending:
            cid, pending = next(iter(self.pending.items()))
            if pending.since_intended(now) < self.reply_timeout_s:
                break
            self._fail(cid, "no reply", f"none within {self.reply_timeout_s:g} s", timeout=True)

    def ping(self) -> None:
        """A WebSocket ping, as a connected client's heartbeat (the emulator answers with a pong)."""
        with contextlib.suppress(WebSocketClosed, OSError):
            self.ws.ping()

    def settled(self) -> bool:
        return (self.retiring and not self.pending) or self.closed

    def close(self) -> None:
        self.closed = True
        self.ws.close()
        self.reader.kill(block=False)
