"""Protocol adapter: a platform robot message becomes one standard message JSON.

Everything after the adapter (commands, engine, replier) sees only StandardMessage, so another
platform needs only another adapter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CONVERSATION_KINDS = {"1": "single", "2": "group"}


class AdapterError(ValueError):
    """The message lacks a field the bot needs; the text names it."""


@dataclass(frozen=True)
class Sender:
    id: str
    staff_id: str
    nick: str
    corp_id: str = ""
    is_admin: bool = False


@dataclass(frozen=True)
class StandardMessage:
    msg_id: str
    conversation_id: str
    conversation_kind: str  # single | group
    msgtype: str  # text | markdown | rich_text | picture | other
    text: str  # plain text for commands and the engine ("" for a picture)
    sender: Sender
    conversation_title: str = ""
    mentions: tuple[str, ...] = ()
    mentions_bot: bool = False
    content: dict[str, Any] = field(default_factory=dict)  # rich parts, picture downloadCode, ...
    session_webhook: str = ""
    session_webhook_expires_ms: int = 0
    robot_code: str = ""
    created_at_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _text_of(data: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(standard msgtype, plain text, extra content) of a platform message."""
    msgtype = data.get("msgtype")
    content = data.get("content") if isinstance(data.get("content"), dict) else {}
    if msgtype == "text":
        text = (data.get("text") or {}).get("content")
        if not isinstance(text, str):
            raise AdapterError("text.content: expected a string for msgtype text")
        return "text", text.strip(), {}
    if msgtype == "markdown":
        text = (data.get("markdown") or content or {}).get("text", "")
        return "markdown", str(text).strip(), {}
    if msgtype == "richText":
        parts = content.get("richText")
        if not isinstance(parts, list):
            raise AdapterError("content.richText: expected a list for msgtype richText")
        text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
        return "rich_text", text.strip(), {"parts": parts}
    if msgtype == "picture":
        return "picture", "", {"downloadCode": content.get("downloadCode", "")}
    if not isinstance(msgtype, str) or not msgtype:
        raise AdapterError("msgtype: expected a string such as text, richText, picture")
    return "other", "", {"platform_msgtype": msgtype}


def _required(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise AdapterError(f"{name}: expected a non-empty string")
    return value


def from_robot_message(data: Any) -> StandardMessage:
    if not isinstance(data, dict):
        raise AdapterError("data: expected a JSON object")
    msg_id = _required(data, "msgId")
    conversation_id = _required(data, "conversationId")
    kind = CONVERSATION_KINDS.get(str(data.get("conversationType", "1")))
    if kind is None:
        raise AdapterError('conversationType: expected "1" (one-to-one) or "2" (group)')
    msgtype, text, content = _text_of(data)
    at_users = data.get("atUsers") if isinstance(data.get("atUsers"), list) else []
    return StandardMessage(
        msg_id=msg_id,
        conversation_id=conversation_id,
        conversation_kind=kind,
        msgtype=msgtype,
        text=text,
        sender=Sender(
            id=str(data.get("senderId", "")),
            staff_id=str(data.get("senderStaffId", "")),
            nick=str(data.get("senderNick", "")),
            corp_id=str(data.get("senderCorpId", "")),
            is_admin=bool(data.get("isAdmin", False)),
        ),
        conversation_title=str(data.get("conversationTitle", "")),
        mentions=tuple(str(u.get("dingtalkId", "")) for u in at_users if isinstance(u, dict)),
        mentions_bot=bool(data.get("isInAtList", False)),
        content=content,
        session_webhook=str(data.get("sessionWebhook", "")),
        session_webhook_expires_ms=int(data.get("sessionWebhookExpiredTime") or 0),
        robot_code=str(data.get("robotCode", "")),
        created_at_ms=int(data.get("createAt") or 0),
    )
