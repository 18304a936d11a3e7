"""One streamed pass over the bot's JSON-lines log (logs/bot.log), kept to counters and small samples;
the lines are read by the run folder's JSON-lines reader, so a torn or damaged line counts the same way.

Events read (harness.core.contract.BotEvent, fields in docs/run-folder.md): message_received,
reply_sent (seq per conversation), reply_failed, queue_rejected, retries_exhausted, permission_denied,
reconnect, handler_crashed, drain_incomplete, login_failed / login_locked; every event is counted (access_token_refreshed
is read that way). Memory stays bounded: messages still waiting for their reply are tracked up to
OPEN_CAP ids, conversations by their last reply sequence number only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.core.contract import BotEvent
from harness.core.runfolder.jsonlines import JsonLinesReader

OPEN_CAP = 200_000


def _unix(ts: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(ts)).timestamp()
    except ValueError:
        return None


@dataclass
class Seen:
    """Count and first / last wall-clock time (unix seconds) of one kind of event."""

    count: int = 0
    first: float | None = None
    last: float | None = None

    def add(self, unix: float | None, n: int = 1) -> None:
        self.count += n
        if unix is not None:
            self.first = unix if self.first is None else min(self.first, unix)
            self.last = unix if self.last is None else max(self.last, unix)


@dataclass
class BotLog:
    present: bool = False
    lines: int = 0
    unreadable: int = 0
    events: Counter[str] = field(default_factory=Counter)
    queue_rejected: Seen = field(default_factory=Seen)
    handler_crashed: Seen = field(default_factory=Seen)
    reconnects: dict[str, Seen] = field(default_factory=dict)
    retries_exhausted: dict[tuple[str, str, str], Seen] = field(default_factory=dict)  # api, status, code
    reply_failed: dict[tuple[str, str], Seen] = field(default_factory=dict)  # api, status
    reply_failed_example: dict[tuple[str, str], str] = field(default_factory=dict)
    permission_denied: dict[str, set[str]] = field(default_factory=dict)  # api -> required scopes
    login_failed: Seen = field(default_factory=Seen)
    login_failed_per_minute: Counter[int] = field(default_factory=Counter)  # unix minute -> failures
    login_failed_users: set[str] = field(default_factory=set)
    login_failed_remotes: set[str] = field(default_factory=set)
    seq_gaps: int = 0
    seq_gap_example: str = ""
    unanswered: int = 0  # received, never replied nor failed (at the end of the log)
    open_overflow: int = 0
    lost_seen: dict[str, list[str]] = field(default_factory=dict)  # ledger lost msgId -> bot events seen
    left_at_stop: int = 0  # messages queued or in hand when the bot was stopped (drain_incomplete)

    @property
    def follows_contract(self) -> bool:
        """Whether the log speaks the optional contract (docs/run-folder.md, BotEvent): only then does a
        count of zero mean the bot did not do it. Any other log (an SDK bot's plain output) is no evidence."""
        return self.present and any(self.events.get(name) for name in BotEvent.names())

    @property
    def absence(self) -> str:
        """Why the bot's side cannot be told, or "" when it can."""
        if not self.present:
            return "the bot log is missing: the bot's side cannot be cross-checked"
        if not self.follows_contract:
            return (
                "the bot's log is not in the optional JSON-lines format (docs/run-folder.md): the bot's side "
                "cannot be cross-checked; the findings rest on what the platform saw"
            )
        return ""


def _handle(log: BotLog, e: dict[str, Any], open_ids: dict[str, None], last_seq: dict[str, int]) -> None:
    name = str(e.get("event", ""))
    log.events[name] += 1
    unix = _unix(e.get("ts"))
    msg_id = e.get("msgId")
    if msg_id in log.lost_seen:
        log.lost_seen[msg_id].append(name)
    if name == BotEvent.MESSAGE_RECEIVED and msg_id:
        if len(open_ids) < OPEN_CAP:
            open_ids[msg_id] = None
        else:
            log.open_overflow += 1
    elif name in (BotEvent.REPLY_SENT, BotEvent.REPLY_FAILED, BotEvent.HANDLER_CRASHED) and msg_id:
        open_ids.pop(msg_id, None)
    if name == BotEvent.REPLY_SENT:
        conversation, seq = str(e.get("conversationId")), e.get("seq")
        if isinstance(seq, int):
            previous = last_seq.get(conversation, 0)
            if seq > previous + 1:
                log.seq_gaps += seq - previous - 1
                log.seq_gap_example = log.seq_gap_example or f"conversation {conversation}: seq {previous} -> {seq}"
            last_seq[conversation] = max(previous, seq)
    elif name == BotEvent.REPLY_FAILED:
        key = (str(e.get("api")), str(e.get("status")))
        log.reply_failed.setdefault(key, Seen()).add(unix)
        log.reply_failed_example.setdefault(key, str(e.get("error", ""))[:300])
    elif name == BotEvent.QUEUE_REJECTED:
        log.queue_rejected.add(unix)
    elif name == BotEvent.DRAIN_INCOMPLETE:
        log.left_at_stop += sum(int(e.get(k) or 0) for k in ("queued", "running"))
    elif name == BotEvent.HANDLER_CRASHED:
        log.handler_crashed.add(unix)
    elif name == BotEvent.RECONNECT:
        log.reconnects.setdefault(str(e.get("reason")), Seen()).add(unix)
    elif name == BotEvent.RETRIES_EXHAUSTED:
        retry = (str(e.get("api")), str(e.get("status")), str(e.get("code") or ""))
        log.retries_exhausted.setdefault(retry, Seen()).add(unix)
    elif name == BotEvent.PERMISSION_DENIED:
        scopes = e.get("requiredScopes") or []
        log.permission_denied.setdefault(str(e.get("api")), set()).update(
            [scopes] if isinstance(scopes, str) else [str(s) for s in scopes]
        )
    elif name in (BotEvent.LOGIN_FAILED, BotEvent.LOGIN_LOCKED):  # a locked-out attempt is a failed login too
        log.login_failed.add(unix)
        if unix is not None:
            log.login_failed_per_minute[int(unix // 60)] += 1
        log.login_failed_users.add(str(e.get("username")))
        log.login_failed_remotes.add(str(e.get("remote")))


def read_bot_log(path: Path, lost_msg_ids: list[str] | None = None) -> BotLog:
    log = BotLog(lost_seen={m: [] for m in lost_msg_ids or []})
    if not path.exists():
        return log
    log.present = True
    open_ids: dict[str, None] = {}
    last_seq: dict[str, int] = {}
    lines = JsonLinesReader(path)
    for e in lines:
        _handle(log, e, open_ids, last_seq)
    log.lines, log.unreadable = lines.lines, lines.bad
    log.unanswered = len(open_ids) + log.open_overflow
    return log
