"""What the bot knows about conversations: group membership, reply sequence numbers, presence."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

JOIN_EVENTS = ("chat_add_member", "member_join", "join")
LEAVE_EVENTS = ("chat_remove_member", "member_leave", "leave", "chat_quit")


def _first(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        if data.get(name):
            return data[name]
    return None


def membership_change(event_type: str, data: Any) -> tuple[str, str, list[str]] | None:
    """(join|leave, conversationId, user ids) of a membership event, None for other events."""
    kind = "join" if event_type in JOIN_EVENTS else "leave" if event_type in LEAVE_EVENTS else None
    if kind is None or not isinstance(data, dict):
        return None
    conversation = _first(data, "conversationId", "openConversationId", "ChatId", "chatId")
    users = _first(data, "userIds", "UserId", "userId", "staffIds", "staffId") or []
    if isinstance(users, str):
        users = [users]
    if not isinstance(conversation, str) or not isinstance(users, list):
        return None
    return kind, conversation, [str(u) for u in users]


class Conversations:
    def __init__(self) -> None:
        self.members: dict[str, set[str]] = defaultdict(set)
        self._reply_seq: dict[str, int] = defaultdict(int)

    def apply(self, kind: str, conversation_id: str, users: list[str]) -> None:
        if kind == "join":
            self.members[conversation_id].update(users)
            return
        remaining = self.members.get(conversation_id, set()) - set(users)
        if remaining:
            self.members[conversation_id] = remaining
        else:
            self.members.pop(conversation_id, None)

    def next_reply_seq(self, conversation_id: str) -> int:
        self._reply_seq[conversation_id] += 1
        return self._reply_seq[conversation_id]

    def summary(self) -> dict[str, int]:
        return {"groups_known": len(self.members), "conversations_replied": len(self._reply_seq)}


class Presence:
    """The bot's own online state, following the stream connection."""

    def __init__(self) -> None:
        self.online = False
        self.since = time.time()

    def set(self, online: bool) -> None:
        if online != self.online:
            self.online, self.since = online, time.time()

    def as_dict(self) -> dict[str, Any]:
        return {"state": "online" if self.online else "offline", "since": self.since}
