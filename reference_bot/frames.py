"""DingTalk Stream frames: parsing server frames and building the client's ACKs (docs/protocol.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.core import jsontext

ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
SUBSCRIPTIONS = ({"type": "EVENT", "topic": "*"}, {"type": "CALLBACK", "topic": ROBOT_TOPIC})

OK, BAD_REQUEST, NOT_FOUND, ERROR = 200, 400, 404, 500
# An ACK with this code makes the platform keep the message and deliver it again later.
REDELIVER = ERROR


class FrameError(ValueError):
    """A frame that cannot be understood; message_id is set when the frame still names one."""

    def __init__(self, reason: str, message_id: str = "") -> None:
        super().__init__(reason)
        self.message_id = message_id


@dataclass(frozen=True)
class Frame:
    type: str
    topic: str
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)
    data: str = ""

    def json_data(self) -> Any:
        """The data string decoded; FrameError if it is not JSON."""
        try:
            return jsontext.parse(self.data) if self.data else {}
        except ValueError as exc:
            raise FrameError(f"data is not JSON: {exc}", self.message_id) from exc


def parse_frame(text: str | bytes) -> Frame:
    try:
        raw = jsontext.parse(text)
    except ValueError as exc:
        raise FrameError(f"frame is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise FrameError("frame is not a JSON object")
    headers = raw.get("headers")
    if not isinstance(headers, dict):
        raise FrameError("frame has no headers object")
    message_id = str(headers.get("messageId") or "")
    if not message_id:
        raise FrameError("frame has no headers.messageId")
    frame_type = raw.get("type")
    if frame_type not in ("SYSTEM", "EVENT", "CALLBACK"):
        raise FrameError(f"unknown frame type {frame_type!r}", message_id)
    data = raw.get("data", "")
    if not isinstance(data, str):
        raise FrameError("data is not a string", message_id)
    return Frame(frame_type, str(headers.get("topic") or ""), message_id, {k: str(v) for k, v in headers.items()}, data)


def ack(message_id: str, code: int = OK, message: str = "OK", data: str = "{}") -> str:
    """The client's answer to a frame; `data` is a JSON document already encoded as a string."""
    return jsontext.dumps(
        {
            "code": code,
            "headers": {"messageId": message_id, "contentType": "application/json"},
            "message": message,
            "data": data,
        }
    )


def event_ack(message_id: str, status: str = "SUCCESS", message: str = "success") -> str:
    return ack(message_id, OK, "OK", jsontext.dumps({"status": status, "message": message}))
