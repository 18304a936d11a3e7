"""The stream gateway: connections/open, tickets, the bot's WebSocket, pushes, ACKs and redelivery.

Routing (docs/platform.md "Routing"): a push goes to one live connection of the app that subscribes to
its topic; active-active picks one at random, active-standby the oldest (the next oldest takes over when
it goes). A delivery not ACKed when its connection closes is redelivered at once (the platform knows the
socket is gone); one whose ACK timeout fires goes to another connection when there is one.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import random
import secrets
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from harness.core.contract import ROUTING_MODES, DingTalkCode
from harness.core.faults import Faults
from harness.platform import frames
from harness.platform.clock import SYSTEM_CLOCK, Clock
from harness.platform.config import Settings
from harness.platform.guard import Guard
from harness.platform.ledger import Ledger, Record
from harness.platform.metrics import PlatformMetrics
from harness.platform.outbox import Outbox, ws_error_kind
from harness.platform.responses import ApiError, error, json_body, reply, required_str

log = logging.getLogger("harness.platform")

SWEEP_INTERVAL_S = 0.05
CLOSE_TIMEOUT_S = 2.0  # how long a close waits for the peer's close frame
TIMED_OUT_MEMORY = 100_000  # deliveries whose ACK timeout fired, remembered so a late ACK is known as one


@dataclass(eq=False)
class Ticket:
    app_id: str
    subscriptions: frozenset[tuple[str, str]]
    expires_at: float
    used: bool = False


@dataclass(eq=False)
class Connection:
    id: str
    app_id: str
    subscriptions: frozenset[tuple[str, str]]
    outbox: Outbox
    peer: str
    routable: bool = True
    pings: dict[str, float] = field(default_factory=dict)  # ping messageId -> sent at (monotonic)
    pings_unanswered: int = 0
    disconnect_id: str = ""  # SDK bots ACK the disconnect notice too; that ACK is expected, not unknown
    next_ping: float = 0.0
    order: int = 0  # registration order: lower = older (active-standby prefers it)
    peer_port: int = 0  # the bot's side of the socket, to tell which process holds it
    pushes: int = 0
    transport: asyncio.Transport | None = None  # for an abrupt close or a hang
    hung: bool = False

    def accepts(self, kind: str, topic: str) -> bool:
        return (kind, topic) in self.subscriptions or (kind, "*") in self.subscriptions


class Gateway:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        metrics: PlatformMetrics,
        faults: Faults,
        guard: Guard,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.ledger = ledger
        self.metrics = metrics
        self.faults = faults
        self.guard = guard
        self.ws_url = ""  # set by the server once bound
        self.tickets: dict[str, Ticket] = {}
        self.connections: dict[str, Connection] = {}
        self.waiting: dict[str, deque[Record]] = {}  # app -> messages with no connection to take them
        self.in_flight: dict[str, Record] = {}  # delivery messageId -> record
        self._timed_out: OrderedDict[str, bool] = OrderedDict()  # deliveries past their ACK timeout
        self._ack_deadlines: list[tuple[float, int, str]] = []
        self._later: list[tuple[float, int, Callable[[], object]]] = []  # delayed actions, due on the clock
        self._seq = itertools.count()
        self.bad_input = metrics.bad_input_of("bot")
        self.fault_hits: Counter[str] = Counter()
        self._next_storm = 0.0
        self._closing: set[asyncio.Task[bool]] = set()
        self.routing: str = settings.routing
        self._order = itertools.count(1)

    # --- HTTP: connections/open ---------------------------------------------------------------------
    async def open_connection(self, request: web.Request) -> web.Response:
        api = "gateway_open"
        try:
            body = await json_body(request, self.settings.max_payload_bytes)
            client_id = required_str(body, "clientId")
            secret = required_str(body, "clientSecret")
            app = self.settings.app(client_id)
            if app is None or not app.accepts_secret(secret):
                self.metrics.login_failures.labels(api).inc()
                log.warning(
                    "connections/open refused: bad credentials for clientId %r from %s", client_id, request.remote
                )
                raise ApiError(401, "InvalidAuthentication", "clientId / clientSecret do not match a configured app")
            if not app.stream_mode:
                raise ApiError(
                    403,
                    DingTalkCode.STREAM_MODE_OFF,
                    f"app {client_id} does not receive robot messages in Stream mode (its robot is set to HTTP mode)",
                )
            subscriptions = _subscriptions(body.get("subscriptions"))
            self.guard.check(app.app_id, api)
        except ApiError as exc:
            return error(self.metrics, api, exc)
        ticket = secrets.token_urlsafe(24)  # unguessable, unlike the counter-based frame ids
        self.tickets[ticket] = Ticket(app.app_id, subscriptions, self.clock.monotonic() + self.settings.ticket_ttl_s)
        return reply(self.metrics, api, {"endpoint": self.ws_url, "ticket": ticket})

    # --- WebSocket: the stream ----------------------------------------------------------------------
    async def stream(self, request: web.Request) -> web.StreamResponse:
        ticket_id = request.query.get("ticket", "")
        ticket = self.tickets.get(ticket_id)
        problem = (
            "no ticket in the query string"
            if not ticket_id
            else "unknown ticket"
            if ticket is None
            else "ticket already used (tickets are single-use; call connections/open again)"
            if ticket.used
            else f"ticket expired (valid {self.settings.ticket_ttl_s:g} s)"
            if self.clock.monotonic() > ticket.expires_at
            else ""
        )
        if problem or ticket is None:
            self.bad_input.count("bad_ticket")
            log.warning("stream refused from %s: %s", request.remote, problem)
            return web.json_response({"code": "InvalidTicket", "message": problem}, status=401)
        ticket.used = True
        ws = web.WebSocketResponse(
            max_msg_size=self.settings.max_payload_bytes, compress=False, autoping=True, timeout=CLOSE_TIMEOUT_S
        )
        await ws.prepare(request)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        conn = Connection(
            frames.new_id(),
            ticket.app_id,
            ticket.subscriptions,
            Outbox(ws, request.transport),
            str(request.remote),
            next_ping=self.clock.monotonic() + self.settings.ping_interval_s,
            order=next(self._order),
            peer_port=int(peer[1]) if isinstance(peer, tuple) and len(peer) >= 2 else 0,
            transport=request.transport,  # type: ignore[arg-type]
        )
        self._register(conn)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self._on_frame(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    self._on_ws_error(conn, ws)
        finally:
            await self._unregister(conn, ws)
        return ws

    def _register(self, conn: Connection) -> None:
        self.connections[conn.id] = conn
        self.ledger.connections["opened"] += 1
        self._gauge(conn.app_id)
        subs = ",".join(sorted(f"{k}:{t}" for k, t in conn.subscriptions))
        log.info(
            "stream connected app=%s connection=%s peer=%s subscriptions=%s", conn.app_id, conn.id, conn.peer, subs
        )
        self._flush_waiting(conn.app_id)

    async def _unregister(self, conn: Connection, ws: web.WebSocketResponse) -> None:
        self.connections.pop(conn.id, None)
        self.ledger.connections["closed"] += 1
        self.ledger.incidents.connection_closed(conn.id)
        self._gauge(conn.app_id)
        self._redeliver_unacked(conn)
        await conn.outbox.aclose()
        log.info(
            "stream closed app=%s connection=%s code=%s unanswered_pings=%d",
            conn.app_id,
            conn.id,
            ws.close_code,
            conn.pings_unanswered,
        )

    def _gauge(self, app_id: str) -> None:
        current = sum(1 for c in self.connections.values() if c.app_id == app_id)
        self.metrics.connections.labels(app_id).set(current)
        self.ledger.connections["current"] = len(self.connections)

    def _on_ws_error(self, conn: Connection, ws: web.WebSocketResponse) -> None:
        kind = ws_error_kind(ws)
        self.bad_input.count(kind)
        log.warning("stream connection=%s app=%s: %s (%s)", conn.id, conn.app_id, kind, ws.exception())

    # --- client frames ------------------------------------------------------------------------------
    def _on_frame(self, conn: Connection, text: str | bytes) -> None:
        try:
            ack = frames.parse_ack(text)
        except frames.FrameError as exc:
            kind = "unknown_frame_type" if "unknown client frame type" in str(exc) else "malformed_frame"
            seen = self.bad_input.count(kind)
            if seen <= 20 or seen % 1000 == 0:
                log.warning("stream connection=%s app=%s sent a bad frame (#%d): %s", conn.id, conn.app_id, seen, exc)
            return
        if conn.pings.pop(ack.message_id, None) is not None:
            conn.pings_unanswered = 0
            return
        if ack.message_id == conn.disconnect_id:
            return
        record = self.in_flight.pop(ack.message_id, None)
        if record is None and self._timed_out.pop(ack.message_id, False):
            self.ledger.counts["late_acks"] += 1  # a slow bot, not bad input: the ACK timeout already fired
            return
        if record is None:
            self.bad_input.count("unknown_ack")
            log.debug("ACK for unknown messageId %s on connection %s", ack.message_id, conn.id)
            return
        if self.faults.hit(self.faults.ignore_acks_ratio):
            self.fault_hits["ack_ignored"] += 1
            self.in_flight[ack.message_id] = record  # as if it never came: the ACK timeout will fire
            return
        self._apply_ack(record, ack)

    def _apply_ack(self, record: Record, ack: frames.Ack) -> None:
        if ack.code == 200 and ack.status != "LATER":
            self.ledger.acked(record)
            if record.answered_by_ack and record.recipient is not None:
                answer = {"type": "event", "clientMsgId": record.client_msg_id, "status": ack.status or "SUCCESS"}
                if record.kind == "card_callback":  # the card update the bot answered the click with
                    answer["response"] = ack.data.get("response")
                record.recipient.notify(answer)
            return
        record.nack = f"code {ack.code} {ack.status or ack.message}".strip()[:200]
        if ack.code == 500 or ack.status == "LATER":
            self._redeliver_later(record, self.settings.redeliver_delay_s)
        elif record.answered_by_ack:  # 400 / 404: the bot refused the event; that is its final answer
            self.ledger.event_refused(record)
            if record.recipient is not None:
                record.recipient.notify(
                    {"type": "event", "clientMsgId": record.client_msg_id, "status": f"REFUSED {ack.code}"}
                )

    # --- pushes -------------------------------------------------------------------------------------
    def submit(self, record: Record) -> None:
        """A new message or event from a user: push it now, or hold it until a connection can take it."""
        if not self._push(record):
            self.waiting.setdefault(record.app_id, deque()).append(record)

    def _targets(self, record: Record, routable: bool = True) -> list[Connection]:
        kind = "EVENT" if record.kind == "event" else "CALLBACK"
        return [
            c
            for c in self.connections.values()
            if c.app_id == record.app_id and c.routable is routable and c.accepts(kind, record.topic)
        ]

    def _push(self, record: Record, avoid: str = "") -> bool:
        """Push to a connection of the app (not `avoid` if another one can take it); False if none can."""
        targets = self._targets(record)
        if self.faults.grace_push_ratio and self.faults.hit(self.faults.grace_push_ratio):
            leaving = self._targets(record, routable=False)
            if leaving:
                self.fault_hits["pushed_during_grace"] += 1
                targets = leaving
        if avoid and len(targets) > 1:
            targets = [c for c in targets if c.id != avoid]
        if not targets:
            return False
        conn = self._route(targets)
        conn.pushes += 1
        delivery = frames.new_id()
        self.ledger.pushed(record, conn.id)
        self.in_flight[delivery] = record
        deadline = self.clock.monotonic() + self.settings.ack_timeout_s
        heapq.heappush(self._ack_deadlines, (deadline, next(self._seq), delivery))
        if self.faults.hit(self.faults.push_drop_ratio):
            self.fault_hits["push_dropped"] += 1
            return True
        frame = self._frame(record, conn, delivery)
        if self.faults.push_delay_s > 0 and self.faults.hit(self.faults.push_delay_ratio):
            self.fault_hits["push_delayed"] += 1
            self.after(self.faults.push_delay_s, functools.partial(conn.outbox.send, frame))
        else:
            conn.outbox.send(frame)
        return True

    def _route(self, targets: list[Connection]) -> Connection:
        if self.routing == "active-standby":
            return min(targets, key=lambda c: c.order)
        return random.choice(targets)

    def set_routing(self, mode: str) -> None:
        if mode not in ROUTING_MODES:
            raise ValueError(f"mode must be one of {', '.join(ROUTING_MODES)}, got {mode!r}")
        self.routing = mode
        log.info("routing: %s", mode)

    def serving(self, app_id: str | None = None) -> Connection | None:
        """The connection pushes go to: active-standby the oldest routable one, active-active the one
        that took the most pushes (the busiest); None without a routable connection."""
        live = [c for c in self.connections.values() if c.routable and app_id in (None, c.app_id)]
        if not live:
            return None
        if self.routing == "active-standby":
            return min(live, key=lambda c: c.order)
        return max(live, key=lambda c: (c.pushes, -c.order))

    def open_incident(self, label: str, connection_id: str = "", app_id: str | None = None) -> dict[str, Any] | None:
        """Follow the messages in flight on a connection (default: the serving one) that is about to be
        faulted (incidents.py). None when there is no such connection."""
        conn = self.connections.get(connection_id) if connection_id else self.serving(app_id)
        if conn is None:
            return None
        unfinished = [r for r in self.ledger.records.values() if r.connection_id == conn.id and r.kind == "message"]
        incident = self.ledger.incidents.open(label, conn.id, unfinished)
        if incident is None:
            return None
        log.info(
            "incident %d (%s): connection %s, %d message(s) in flight", incident.id, label, conn.id, len(unfinished)
        )
        return {"id": incident.id, "connection": conn.id, "in_flight": len(unfinished)}

    def _redeliver_unacked(self, conn: Connection) -> None:
        """Deliveries on a connection that is gone can never be ACKed: redeliver them now rather than at
        their ACK timeout."""
        gone = [d for d, r in self.in_flight.items() if r.connection_id == conn.id]
        for delivery in gone:
            record = self.in_flight.pop(delivery)
            if record.acked_at is None:
                self._redeliver_later(record, self.settings.redeliver_delay_s, avoid=conn.id)
        if gone:
            log.info("stream connection=%s closed with %d unACKed deliveries: redelivered", conn.id, len(gone))

    def _frame(self, record: Record, conn: Connection, delivery: str) -> bytes:
        if record.kind == "event":
            extra = {
                "eventId": record.msg_id,
                "eventType": record.data["eventType"],
                "eventCorpId": "corp-emulator",
                "eventBornTime": str(int(record.sent_at * 1000)),
                "eventUnifiedAppId": record.app_id,
            }
            return frames.server_frame("EVENT", record.topic, record.data, conn.app_id, conn.id, delivery, extra)
        return frames.server_frame("CALLBACK", record.topic, record.data, conn.app_id, conn.id, delivery)

    def _redeliver_later(self, record: Record, delay: float, avoid: str = "") -> None:
        if record.final or record.deliveries > self.settings.redeliver_max:
            return
        if delay > 0:
            self.after(delay, functools.partial(self._redeliver, record, avoid))
        else:
            self._redeliver(record, avoid)

    def _redeliver(self, record: Record, avoid: str = "") -> None:
        if not record.final and not self._push(record, avoid):
            self.waiting.setdefault(record.app_id, deque()).append(record)

    def _flush_waiting(self, app_id: str) -> None:
        """Push what waited for this app; what the new connection does not subscribe to keeps waiting."""
        queue = self.waiting.pop(app_id, deque())
        left = deque(r for r in queue if not r.final and not self._push(r))
        if left:
            self.waiting[app_id] = left

    # --- disconnects: SYSTEM, abrupt, hung ---------------------------------------------------------
    def disconnect(self, app_id: str | None = None, reason: str = "emulator rebalance", kind: str = "system") -> int:
        """End matching routable connections the `kind` way (faults.DISCONNECT_KINDS); how many."""
        chosen = [c for c in self.connections.values() if c.routable and app_id in (None, c.app_id)]
        for conn in chosen:
            how = self.faults.rng.choice(("system", "abrupt")) if kind == "mixed" else kind
            conn.routable = False
            if how == "abrupt":
                self._abort(conn, reason)
            elif how == "hang":
                self._hang(conn, reason)
            else:
                self._system_disconnect(conn, reason)
        return len(chosen)

    def _system_disconnect(self, conn: Connection, reason: str) -> None:
        """SYSTEM disconnect, then a close after the grace period."""
        conn.disconnect_id = frames.new_id()
        conn.outbox.send(frames.disconnect_frame(conn.app_id, conn.id, conn.disconnect_id, reason))
        self.after(
            self.settings.disconnect_grace_s, functools.partial(self._close, conn, "disconnect grace period over")
        )
        log.info(
            "stream disconnect sent app=%s connection=%s reason=%s grace=%gs",
            conn.app_id,
            conn.id,
            reason,
            self.settings.disconnect_grace_s,
        )

    def _abort(self, conn: Connection, reason: str) -> None:
        """Drop the TCP connection with no close frame (a crashed server or a middlebox reset)."""
        log.info("stream aborted app=%s connection=%s reason=%s", conn.app_id, conn.id, reason)
        if conn.transport is not None:
            conn.transport.abort()

    def _hang(self, conn: Connection, reason: str) -> None:
        """Stop reading and writing; the socket stays open. Only the bot's heartbeat can find this; the
        emulator's own dead-peer check (unanswered pings) closes it after ping_miss_limit intervals."""
        log.info("stream hung app=%s connection=%s reason=%s", conn.app_id, conn.id, reason)
        conn.hung = True
        conn.outbox.held = True
        if conn.transport is not None:
            conn.transport.pause_reading()

    def _close(self, conn: Connection, reason: str) -> None:
        if not conn.outbox.ws.closed:
            task = asyncio.get_running_loop().create_task(conn.outbox.ws.close(code=1000, message=reason.encode()))
            self._closing.add(task)  # keep a reference until done
            task.add_done_callback(self._closing.discard)

    async def close_all(self) -> None:
        await asyncio.gather(
            *(
                conn.outbox.ws.close(code=1001, message=b"emulator shutting down")
                for conn in list(self.connections.values())
            )
        )

    # --- timers -------------------------------------------------------------------------------------
    def after(self, delay: float, action: Callable[[], object]) -> None:
        """Run `action` once `delay` seconds passed on the clock (the timer sweep runs it)."""
        heapq.heappush(self._later, (self.clock.monotonic() + delay, next(self._seq), action))

    async def run_timers(self) -> None:
        """ACK timeouts, delayed actions, reply deadlines, ticket expiry, pings and disconnect storms, all
        due on the injected clock, looked at every SWEEP_INTERVAL_S."""
        tick = 0
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            now = self.clock.monotonic()
            self._ack_timeouts(now)
            while self._later and self._later[0][0] <= now:
                heapq.heappop(self._later)[2]()
            self.ledger.expire(now)
            tick += 1
            if tick % 20 == 0:
                self._housekeeping(now)

    def _ack_timeouts(self, now: float) -> None:
        while self._ack_deadlines and self._ack_deadlines[0][0] <= now:
            _, _, delivery = heapq.heappop(self._ack_deadlines)
            record = self.in_flight.pop(delivery, None)
            if record is not None:
                self._timed_out[delivery] = True
                if len(self._timed_out) > TIMED_OUT_MEMORY:
                    self._timed_out.popitem(last=False)
            if record is not None and record.acked_at is None:
                self._redeliver_later(record, self.settings.redeliver_delay_s, avoid=record.connection_id)

    def _housekeeping(self, now: float) -> None:
        for ticket_id in [t for t, v in self.tickets.items() if now > v.expires_at]:
            del self.tickets[ticket_id]
        for app_id, queue in list(self.waiting.items()):  # lost while waiting: nothing left to push
            self.waiting[app_id] = deque(r for r in queue if not r.final)
        interval = self.settings.ping_interval_s
        for conn in list(self.connections.values()):
            if interval > 0 and now >= conn.next_ping:
                conn.next_ping = now + interval
                conn.pings_unanswered += len(conn.pings)
                conn.pings.clear()
                limit = self.settings.ping_miss_limit
                if limit and conn.pings_unanswered >= limit:  # a dead peer: stop routing to it
                    conn.routable = False
                    log.warning(
                        "stream connection=%s app=%s: %d pings unanswered, closing",
                        conn.id,
                        conn.app_id,
                        conn.pings_unanswered,
                    )
                    self._close(conn, f"{conn.pings_unanswered} pings unanswered")
                    continue
                ping_id = frames.new_id()
                conn.pings[ping_id] = now
                conn.outbox.send(frames.ping_frame(conn.app_id, conn.id, ping_id, frames.new_id()))
        storm = self.faults.disconnect_every_s
        if storm > 0 and now >= self._next_storm:
            if self._next_storm:
                self.disconnect(reason="disconnect storm (fault)", kind=self.faults.disconnect_kind)
                self.fault_hits["disconnect_storm"] += 1
            self._next_storm = now + storm

    def status(self) -> dict[str, Any]:
        apps = {c.app_id for c in self.connections.values()}
        serving = {conn.id for conn in map(self.serving, apps) if conn is not None}
        return {
            "routing": self.routing,
            "connections": [
                {
                    "id": c.id,
                    "app": c.app_id,
                    "routable": c.routable,
                    "hung": c.hung,
                    "peer": c.peer,
                    "peer_port": c.peer_port,
                    "order": c.order,
                    "pushes": c.pushes,
                    "serving": c.id in serving,
                }
                for c in self.connections.values()
            ],
            "waiting": {app: len(q) for app, q in self.waiting.items()},
            "in_flight": len(self.in_flight),
        }


def _subscriptions(raw: Any) -> frozenset[tuple[str, str]]:
    if raw is None:
        return frozenset({("CALLBACK", frames.BOT_MESSAGE_TOPIC), ("EVENT", "*")})
    if not isinstance(raw, list):
        raise ApiError(400, "InvalidParameter.Subscriptions", "subscriptions must be a list of {type, topic}")
    result = set()
    for i, sub in enumerate(raw):
        kind = sub.get("type") if isinstance(sub, dict) else None
        topic = sub.get("topic") if isinstance(sub, dict) else None
        if kind not in ("EVENT", "CALLBACK", "SYSTEM") or not isinstance(topic, str) or not topic:
            raise ApiError(
                400,
                "InvalidParameter.Subscriptions",
                f"subscriptions[{i}] must be {{type: EVENT|CALLBACK|SYSTEM, topic: non-empty string}}",
            )
        result.add((kind, topic))
    return frozenset(result)
