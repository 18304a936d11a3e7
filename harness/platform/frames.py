"""Stream-mode frames exactly as DingTalk sends them, and strict parsing of what clients send back.

Server frames: `{"specVersion": "1.0", "type": ..., "headers": {all values strings}, "data": "<JSON as a string>"}`.
Client frames are ACKs: `{"code": 200, "headers": {"messageId": ..}, "message": "..", "data": "<JSON string>"}`.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any

from harness.core import jsontext

MSG_ID_PREFIX = "msg"  # robot message ids: "msg" + new_id()
BOT_MESSAGE_TOPIC = "/v1.0/im/bot/messages/get"
ACK_CODES = (200, 400, 404, 500)
CONTENT_TYPE = "application/json"


class FrameError(ValueError):
    """A client frame that cannot be understood; the message says why (sent back in the close reason)."""


_PREFIX = secrets.token_hex(6)  # ids are unique per emulator process; a counter is far cheaper than uuid4
_COUNTER = itertools.count(1)


def new_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):010x}"


def is_our_id(value: str, prefix: str = "") -> bool:
    """Whether `value` is `prefix` + an id this emulator process issued (answered or long forgotten)."""
    rest = value.removeprefix(prefix) if value.startswith(prefix) else ""
    return len(rest) == len(_PREFIX) + 10 and rest.startswith(_PREFIX)


def now_ms() -> str:
    return str(int(time.time() * 1000))


def server_frame(
    kind: str,
    topic: str,
    data: dict[str, Any],
    app_id: str,
    connection_id: str,
    message_id: str,
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """The frame as UTF-8 JSON, ready for the socket."""
    headers = {
        "appId": app_id,
        "connectionId": connection_id,
        "contentType": CONTENT_TYPE,
        "messageId": message_id,
        "time": now_ms(),
        "topic": topic,
    }
    if extra_headers:
        headers.update(extra_headers)
    return jsontext.dumpb({"specVersion": "1.0", "type": kind, "headers": headers, "data": jsontext.dumps(data)})


def ping_frame(app_id: str, connection_id: str, message_id: str, opaque: str) -> bytes:
    return server_frame("SYSTEM", "ping", {"opaque": opaque}, app_id, connection_id, message_id)


def disconnect_frame(app_id: str, connection_id: str, message_id: str, reason: str) -> bytes:
    return server_frame("SYSTEM", "disconnect", {"reason": reason}, app_id, connection_id, message_id)


@dataclass(frozen=True)
class Ack:
    code: int
    message_id: str
    message: str
    data: dict[str, Any]

    @property
    def status(self) -> str:
        """EVENT ACKs say SUCCESS or LATER in data.status; anything else counts by its code."""
        value = self.data.get("status")
        return value if isinstance(value, str) else ""


def parse_ack(text: str | bytes) -> Ack:
    """Parse one client frame. Raises FrameError naming the first thing that is wrong."""
    try:
        frame = jsontext.parse(text)
    except ValueError as exc:
        raise FrameError(f"frame is not valid JSON: {exc}") from None
    if not isinstance(frame, dict):
        raise FrameError(f"frame must be a JSON object, got {type(frame).__name__}")
    if "type" in frame and "code" not in frame:
        raise FrameError(f"unknown client frame type {str(frame['type'])[:40]!r}; clients only send ACKs")
    code = frame.get("code")
    if isinstance(code, bool) or not isinstance(code, int):
        raise FrameError(f"ACK code must be an integer, got {code!r}"[:200])
    if code not in ACK_CODES:
        raise FrameError(f"ACK code {code} is not one of {', '.join(map(str, ACK_CODES))}")
    headers = frame.get("headers")
    if not isinstance(headers, dict):
        raise FrameError("ACK has no headers object")
    message_id = headers.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise FrameError("ACK headers.messageId must be a non-empty string")
    message = frame.get("message", "")
    return Ack(code, message_id, message if isinstance(message, str) else str(message), _ack_data(frame.get("data")))


def _ack_data(raw: Any) -> dict[str, Any]:
    """`data` is a JSON string in the protocol; tolerate an object or nothing, refuse other garbage."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        raise FrameError(f"ACK data must be a JSON string, got {type(raw).__name__}")
    try:
        value = jsontext.parse(raw)
    except ValueError:
        raise FrameError("ACK data is a string but not valid JSON") from None
    return value if isinstance(value, dict) else {"value": value}
