"""Incidents: the messages a bot process fault caught, followed to their fates (ledger.json `incidents`).

The harness opens an incident (POST /admin/incidents) just before it kills or stops the process behind
a stream connection. From then on the ledger tells this module what happens to two groups of messages:

- `in_flight`: pushed to that connection and not yet final when the incident opened, or pushed to it
  later while it was still registered (a hung process keeps receiving until its connection closes);
- `sent_during`: sent by users from the opening until `SETTLE_S` after the first reply to a message
  delivered on another connection (the recovery), or until the emulator stops if none came.

Each message ends in one fate: `replied` (answered, no delivery after it joined), `redelivered_replied`
(answered after a delivery it got once it joined: redelivered), `late` (counted lost at the reply
timeout, answered later), `lost` (never answered), `pending` (not final when the summary was taken).
Replies to an already answered message are `duplicate_replies`. Memory is bounded: at most
MAX_FOLLOWED messages are followed over all incidents, MAX_LISTED listed per incident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.platform.clock import Clock

SETTLE_S = 5.0  # after the recovery, users' messages still count towards the incident this long
MAX_INCIDENTS = 100
MAX_FOLLOWED = 100_000
MAX_LISTED = 200
FATES = ("replied", "redelivered_replied", "late", "lost", "pending")
GROUPS = ("in_flight", "sent_during")


class Tracked(Protocol):
    msg_id: str
    connection_id: str
    deliveries: int
    final: bool


@dataclass
class Followed:
    incident: Incident
    group: str
    deliveries: int  # the message's deliveries when it joined
    fate: str = "pending"
    connections: list[str] = field(default_factory=list)


@dataclass
class Incident:
    id: int
    label: str
    connection: str
    opened_at: float  # unix
    opened_monotonic: float
    closed_at: float | None = None  # the connection went (unix)
    recovered_at: float | None = None  # first reply to a message delivered on another connection (unix)
    recovered_monotonic: float | None = None
    duplicate_replies: int = 0
    unfollowed: int = 0  # messages not followed: MAX_FOLLOWED reached
    members: list[tuple[str, Followed]] = field(default_factory=list)

    def window_open(self, now: float) -> bool:
        return self.recovered_monotonic is None or now <= self.recovered_monotonic + SETTLE_S

    def summary(self) -> dict[str, Any]:
        groups = {g: dict.fromkeys(FATES, 0) for g in GROUPS}
        for _, followed in self.members:
            groups[followed.group][followed.fate] += 1
        # the in-flight ones first, the unanswered first among them: the evidence a diagnosis needs
        listed = sorted(self.members, key=lambda m: (m[1].group != "in_flight", m[1].fate.endswith("replied")))
        return {
            "id": self.id,
            "label": self.label,
            "connection": self.connection,
            "opened_at": self.opened_at,
            "connection_closed_at": self.closed_at,
            "recovered_at": self.recovered_at,
            "settle_s": SETTLE_S,
            **{g: {"count": sum(groups[g].values()), "fates": groups[g]} for g in GROUPS},
            "duplicate_replies": self.duplicate_replies,
            "unfollowed": self.unfollowed,
            "messages": [
                {"msgId": msg_id, "group": f.group, "fate": f.fate, "connections": f.connections}
                for msg_id, f in listed[:MAX_LISTED]
            ],
        }


class Incidents:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.incidents: list[Incident] = []
        self._followed: dict[str, Followed] = {}
        self._next_id = 1

    # --- opened by the admin API ------------------------------------------------------------------------
    def open(self, label: str, connection_id: str, in_flight: list[Tracked]) -> Incident | None:
        """Start following `in_flight` (the connection's unfinished messages). None when MAX_INCIDENTS
        incidents were opened already."""
        if len(self.incidents) >= MAX_INCIDENTS:
            return None
        incident = Incident(self._next_id, label, connection_id, self.clock.wall(), self.clock.monotonic())
        self._next_id += 1
        self.incidents.append(incident)
        for record in in_flight:
            self._follow(incident, record, "in_flight")
        return incident

    def connection_closed(self, connection_id: str) -> None:
        for incident in self.incidents:
            if incident.connection == connection_id and incident.closed_at is None:
                incident.closed_at = self.clock.wall()

    # --- told by the ledger -----------------------------------------------------------------------------
    def sent(self, record: Tracked) -> None:
        now = self.clock.monotonic()
        for incident in self.incidents:
            if incident.window_open(now):
                self._follow(incident, record, "sent_during")
                return  # one incident per message: the earliest still open

    def pushed(self, record: Tracked, connection_id: str) -> None:
        followed = self._followed.get(record.msg_id)
        if followed is not None:
            followed.connections.append(connection_id)
            incident = followed.incident
            if incident.connection == connection_id and incident.closed_at is None:
                followed.group = "in_flight"  # sent during the incident, then pushed to the faulted connection
            return
        for incident in self.incidents:
            if incident.connection == connection_id and incident.closed_at is None:
                self._follow(incident, record, "in_flight")
                return

    def final(self, record: Tracked, outcome: str) -> None:
        """The ledger finished `record`: "replied", or "lost:<stage>"."""
        if outcome == "replied":
            self._recovered(record)
        followed = self._followed.get(record.msg_id)
        if followed is None:
            return
        if outcome == "replied":
            followed.fate = "redelivered_replied" if record.deliveries > followed.deliveries else "replied"
        else:
            followed.fate = "lost"

    def answered_again(self, msg_id: str, outcome: str) -> None:
        """A reply came for a message already final with `outcome` (the ledger's recent final ids)."""
        followed = self._followed.get(msg_id)
        if followed is None:
            return
        if outcome == "replied":
            followed.incident.duplicate_replies += 1
        elif followed.fate == "lost":
            followed.fate = "late"

    def summary(self) -> list[dict[str, Any]]:
        return [incident.summary() for incident in self.incidents]

    # --- internals --------------------------------------------------------------------------------------
    def _follow(self, incident: Incident, record: Tracked, group: str) -> None:
        if record.msg_id in self._followed:
            return
        if len(self._followed) >= MAX_FOLLOWED:
            incident.unfollowed += 1
            return
        # deliveries when it joined; a message not pushed yet has its first push ahead, not a redelivery
        joined = max(record.deliveries, 1)
        connections = [record.connection_id] if record.connection_id else []
        followed = Followed(incident, group, joined, connections=connections)
        self._followed[record.msg_id] = followed
        incident.members.append((record.msg_id, followed))

    def _recovered(self, record: Tracked) -> None:
        for incident in self.incidents:
            if incident.recovered_at is None and record.connection_id != incident.connection:
                incident.recovered_at = self.clock.wall()
                incident.recovered_monotonic = self.clock.monotonic()
