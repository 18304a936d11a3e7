"""Stream client: connections/open, the WebSocket with the ticket, ACKs, heartbeat and reconnects.

- Heartbeat: aiohttp pings after `heartbeat.interval_seconds` of silence and drops the socket when
  no pong arrives within half of that (the pong deadline); that ends as reason `heartbeat_timeout`.
- Reconnects use ReconnectPolicy (exponential, jittered, capped at 5 min, reset after a stable
  connection) and are counted by the reason the previous connection ended or the open failed.
- SYSTEM `disconnect` is make-before-break: the new connection opens at once while the old one keeps
  reading (and ACKing) until the server closes it or the grace period ends with a newer one live.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import random
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp

from harness.core.contract import BotEvent
from reference_bot import __version__
from reference_bot.backoff import ReconnectPolicy
from reference_bot.config import BotConfig
from reference_bot.conversations import Presence
from reference_bot.frames import BAD_REQUEST, ERROR, NOT_FOUND, SUBSCRIPTIONS, Frame, FrameError, ack, parse_frame
from reference_bot.logs import event
from reference_bot.metrics import BotMetrics
from reference_bot.replier import parse_body

WARNING = 30


class OpenFailed(RuntimeError):
    pass


class Connection:
    _ids = itertools.count(1)

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.local_id = next(self._ids)
        self.replace_requested = asyncio.Event()
        self.reader: asyncio.Task[str] | None = None


class StreamClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: BotConfig,
        client_id: str,
        client_secret: str,
        on_frame: Callable[[Frame], str | asyncio.Future[str] | None],
        metrics: BotMetrics,
        presence: Presence,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.session = session
        self.config = config
        self.endpoint = config.platform.endpoint.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.on_frame = on_frame
        self.metrics = metrics
        self.presence = presence
        rc = config.reconnect
        self.policy = ReconnectPolicy(
            initial=rc.initial_delay_seconds,
            factor=rc.factor,
            cap=rc.max_delay_seconds,
            jitter=rc.jitter,
            stable_after=rc.stable_after_seconds,
            rand=rand,
        )
        self.live: set[Connection] = set()
        self.history: deque[dict[str, Any]] = deque(maxlen=50)  # recent reconnects, shown by /status
        self.connected_event = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle ---

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reason: str | None = None
        while not self._stop.is_set():
            if reason is not None:
                delay = 0.0 if reason == "disconnect" else self.policy.next_delay()
                self.metrics.reconnects.labels(reason=reason).inc()
                record = {"reason": reason, "attempt": self.policy.attempt, "delay_s": round(delay, 4)}
                self.history.append(record)
                event(BotEvent.RECONNECT, **record)
                if delay > 0 and await self._stopped_within(delay):
                    break
            try:
                conn = await self._connect()
            except OpenFailed as exc:
                event(BotEvent.CONNECT_FAILED, WARNING, error=str(exc))
                reason = "open_failed"
                continue
            self.policy.connected(loop.time())
            try:
                reason = await self._serve(conn)
            except Exception:  # a bug must cost a reconnect, never the stream loop itself
                event(BotEvent.STREAM_CRASHED, 40, exc_info=True, connection=conn.local_id)
                await conn.ws.close()
                reason = "error"
            self.policy.disconnected(loop.time())

    async def stop(self) -> None:
        self._stop.set()
        for conn in list(self.live):
            await conn.ws.close()
        tasks = [c.reader for c in self.live if c.reader] + list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
            return True
        except asyncio.TimeoutError:
            return False

    # --- one connection ---

    async def _connect(self) -> Connection:
        body = {
            "clientId": self.client_id,
            "clientSecret": self._client_secret,
            "subscriptions": list(SUBSCRIPTIONS),
            "ua": f"reference-bot/{__version__}",
            "localIp": "127.0.0.1",
        }
        timeout = aiohttp.ClientTimeout(total=self.config.platform.request_timeout_seconds)
        try:
            async with self.session.post(
                f"{self.endpoint}/v1.0/gateway/connections/open", json=body, timeout=timeout
            ) as resp:
                payload = parse_body(await resp.read())
                self.metrics.count_request("gateway_open", str(resp.status), payload)
                if resp.status != 200:
                    raise OpenFailed(f"connections/open answered HTTP {resp.status} {payload.get('code', '')}".strip())
            url, ticket = payload["endpoint"], payload["ticket"]
            heartbeat = self.config.heartbeat.interval_seconds
            ws = await asyncio.wait_for(
                self.session.ws_connect(url, params={"ticket": ticket}, heartbeat=heartbeat),
                self.config.platform.request_timeout_seconds,
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError, TypeError) as exc:
            if not isinstance(exc, aiohttp.WSServerHandshakeError):
                self.metrics.count_request("gateway_open", "error")
            raise OpenFailed(f"cannot open the stream: {type(exc).__name__}: {exc}") from exc
        conn = Connection(ws)
        self.live.add(conn)
        self._set_connected()
        event(BotEvent.STREAM_CONNECTED, connection=conn.local_id, live=len(self.live))
        return conn

    def _set_connected(self) -> None:
        up = bool(self.live)
        self.metrics.stream_connected.set(1 if up else 0)
        self.presence.set(up)
        if up:
            self.connected_event.set()
        else:
            self.connected_event.clear()

    async def _serve(self, conn: Connection) -> str:
        """Wait until the connection ends (its reason) or the server asks to move (`disconnect`)."""
        conn.reader = asyncio.create_task(self._read(conn))
        replace = asyncio.create_task(conn.replace_requested.wait())
        stop = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait({conn.reader, replace, stop}, return_when=asyncio.FIRST_COMPLETED)
        replace.cancel()
        stop.cancel()
        if conn.reader in done:
            return conn.reader.result()
        if self._stop.is_set():
            return "stopped"
        retire = asyncio.create_task(self._retire(conn))
        self._tasks.add(retire)
        retire.add_done_callback(self._tasks.discard)
        return "disconnect"

    async def _retire(self, conn: Connection) -> None:
        """Let a connection the server is moving away from finish; close it once a newer one is up."""
        assert conn.reader is not None
        try:
            await asyncio.wait_for(asyncio.shield(conn.reader), self.config.reconnect.disconnect_grace_seconds)
        except asyncio.TimeoutError:
            if any(other is not conn for other in self.live):
                await conn.ws.close()

    async def _read(self, conn: Connection) -> str:
        ws = conn.ws
        reason = "closed"
        try:
            async for msg in ws:
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    answer = self._on_text(conn, msg.data)
                    if isinstance(answer, asyncio.Future):  # an ACK that goes once the message is answered
                        answer.add_done_callback(functools.partial(self._ack_later, conn))
                    elif answer is not None and not ws.closed:
                        await ws.send_str(answer)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    reason = "error"
                    break
        except (aiohttp.ClientError, ConnectionError) as exc:
            event(BotEvent.STREAM_ERROR, WARNING, connection=conn.local_id, error=str(exc))
            reason = "error"
        finally:
            if isinstance(ws.exception(), aiohttp.ServerTimeoutError):
                reason = "heartbeat_timeout"
            self.live.discard(conn)
            self._set_connected()
            if not ws.closed:
                await ws.close()
            event(BotEvent.STREAM_CLOSED, connection=conn.local_id, reason=reason, close_code=ws.close_code)
        return reason

    def _ack_later(self, conn: Connection, answer: asyncio.Future[str]) -> None:
        """Send a deferred ACK on the connection its frame came on, if that one is still open (if not,
        the platform redelivers the message elsewhere)."""
        if answer.cancelled() or conn.ws.closed:
            return
        task = asyncio.get_running_loop().create_task(self._send_quietly(conn, answer.result()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _send_quietly(conn: Connection, text: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            await conn.ws.send_str(text)

    def _on_text(self, conn: Connection, text: str | bytes) -> str | asyncio.Future[str] | None:
        try:
            frame = parse_frame(text)
        except FrameError as exc:
            self.metrics.frame_received("INVALID")
            event(BotEvent.BAD_FRAME, WARNING, reason=str(exc), messageId=exc.message_id, connection=conn.local_id)
            return ack(exc.message_id, BAD_REQUEST, str(exc)) if exc.message_id else None
        self.metrics.frame_received(frame.type)
        if frame.type != "SYSTEM":
            try:
                return self.on_frame(frame)
            except Exception:  # keep reading; the platform redelivers what we could not take
                event(BotEvent.HANDLER_CRASHED, 40, exc_info=True, messageId=frame.message_id, topic=frame.topic)
                return ack(frame.message_id, ERROR, "internal error, deliver again later")
        if frame.topic == "ping":
            return ack(frame.message_id, data=frame.data)  # echoes the opaque value
        if frame.topic == "disconnect":
            reason = ""
            try:
                data = frame.json_data()
                reason = str(data.get("reason", "")) if isinstance(data, dict) else ""
            except FrameError:
                pass
            event(BotEvent.DISCONNECT_REQUESTED, connection=conn.local_id, reason=reason)
            conn.replace_requested.set()
            return None  # nothing to ACK: the server only announces the close
        event(BotEvent.UNKNOWN_TOPIC, WARNING, type=frame.type, topic=frame.topic, messageId=frame.message_id)
        return ack(frame.message_id, NOT_FOUND, f"no handler for SYSTEM topic {frame.topic!r}")
