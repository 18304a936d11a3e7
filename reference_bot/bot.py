"""The bot as one object: wires config, stream client, inbound buffer, engine, replier and admin API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web

from harness.core import jsontext
from harness.core.contract import BotEvent
from reference_bot import PROTOCOL, __version__
from reference_bot.admin import AdminApi
from reference_bot.answer import Answerer
from reference_bot.answer_cache import AnswerCache, CachedEngine
from reference_bot.auth import LoginGuard, TokenIssuer
from reference_bot.config import BotConfig, ConfigError, Secrets
from reference_bot.conversations import Conversations, Presence
from reference_bot.engine import AnswerEngine, SimulatedEngine
from reference_bot.engine_openai import OpenAIEngine
from reference_bot.inbound import InboundBuffer
from reference_bot.leak_demo import LeakDemo
from reference_bot.logs import event
from reference_bot.looplag import LoopLagProbe
from reference_bot.metrics import CACHE_RESULTS, FRAME_TYPES, OUTCOMES, BotMetrics
from reference_bot.replier import Replier
from reference_bot.stream import StreamClient


class ReferenceBot:
    def __init__(self, config: BotConfig, secrets: Secrets) -> None:
        chat = config.channels.enterprise_chat
        if chat.enabled and not config.platform.client_id:
            raise ConfigError("platform.client_id: expected the app's client id (--client-id or DINGTALK_CLIENT_ID)")
        if chat.enabled and not secrets.client_secret:
            raise ConfigError("client secret: expected env DINGTALK_CLIENT_SECRET or --client-secret-file")
        self.config = config
        self.secrets = secrets
        self.metrics = BotMetrics(__version__, config.buffer.capacity)
        self.conversations = Conversations()
        self.presence = Presence()
        self.started_at = time.monotonic()
        self.admin_url = ""
        self._runner: web.AppRunner | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self.loop_lag = LoopLagProbe(self.metrics.event_loop_lag, config.event_loop_lag.interval_seconds)

    async def start(self) -> None:
        cfg = self.config
        connector = aiohttp.TCPConnector(limit=max(100, cfg.buffer.workers * 2))
        # orjson for every request body (the standard library's encoder was a per-reply cost)
        self.session = aiohttp.ClientSession(connector=connector, json_serialize=jsontext.dumps)
        self.engine = await self._make_engine()
        self.replier = Replier(
            self.session,
            cfg.platform.endpoint,
            cfg.platform.client_id,
            self.secrets.client_secret,
            cfg.channels.enterprise_chat.retry_policy,
            self.metrics,
            cfg.platform.request_timeout_seconds,
        )
        self.answerer = Answerer(
            self.replier,
            self.engine,
            self.conversations,
            self.metrics,
            deadline_seconds=cfg.buffer.deadline_seconds,
            on_deadline=cfg.buffer.on_deadline,
            leak=LeakDemo(cfg.leak_demo.bytes_per_message) if cfg.leak_demo.bytes_per_message else None,
        )
        self.inbound = InboundBuffer(cfg.buffer, self.metrics, self.conversations, self.answerer.handle)
        self.stream = StreamClient(
            self.session,
            cfg,
            cfg.platform.client_id,
            self.secrets.client_secret,
            self.inbound.on_frame,
            self.metrics,
            self.presence,
        )
        await self._start_admin()
        self.loop_lag.start()
        self.inbound.start()
        if cfg.channels.enterprise_chat.enabled:
            self._stream_task = asyncio.create_task(self.stream.run())
        else:
            event(BotEvent.CHANNEL_DISABLED, channel="enterprise_chat")
        event(
            BotEvent.BOT_STARTED,
            version=__version__,
            protocol=PROTOCOL,
            engine=self.engine.name,
            platform=cfg.platform.endpoint,
            admin=self.admin_url,
            jwt_key_generated=self.secrets.jwt_key_generated,
        )

    async def _make_engine(self) -> AnswerEngine:
        cfg = self.config
        engine: AnswerEngine
        if cfg.engine.kind == "openai":
            engine = OpenAIEngine(self.session, cfg.engine, cfg.nlp_engine)
        else:
            engine = SimulatedEngine(cfg.engine, cfg.nlp_engine)
        if not cfg.answer_cache.enabled:
            return engine
        cache = AnswerCache(cfg.answer_cache, self.metrics, self.secrets.redis_password)
        await cache.check()  # unreachable: said in the log, and every lookup falls through to the engine
        return CachedEngine(engine, cache)

    async def _start_admin(self) -> None:
        adm = self.config.admin
        api = AdminApi(
            username=adm.username,
            password=self.secrets.admin_password,
            issuer=TokenIssuer(self.secrets.jwt_key, adm.audience, adm.token_ttl_seconds),
            guard=LoginGuard(adm.lockout_failures, adm.lockout_window_seconds, adm.lockout_seconds),
            metrics=self.metrics,
            status=self.status,
            ready=lambda: self.stream.connected_event.is_set(),
        )
        self._runner = web.AppRunner(api.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, adm.host, adm.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.admin_url = f"http://{host}:{port}"

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop taking frames, let queued answers finish (bounded), then close everything."""
        await self.stream.stop()
        if self._stream_task is not None:
            self._stream_task.cancel()
            await asyncio.gather(self._stream_task, return_exceptions=True)
        await self.inbound.stop(drain_seconds)
        await self.engine.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.session.close()
        await self.loop_lag.stop()
        event(BotEvent.BOT_STOPPED, uptime_s=round(time.monotonic() - self.started_at, 1))

    def status(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "version": __version__,
            "protocol": PROTOCOL,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "presence": self.presence.as_dict(),
            "connection": {
                "connected": self.stream.connected_event.is_set(),
                "live_connections": len(self.stream.live),
                "reconnect_attempt": self.stream.policy.attempt,
                "recent_reconnects": list(self.stream.history),
            },
            "queue": {
                "depth": self.inbound.queue.qsize(),
                "capacity": self.config.buffer.capacity,
                "running": self.inbound.busy,
                "workers": self.config.buffer.workers,
            },
            "engine": {"name": self.engine.name, **_engine_knobs(self.config)},
            "answer_cache": {
                "enabled": self.config.answer_cache.enabled,
                **{r: m.value("chatbot_answer_cache_lookups_total", result=r) for r in CACHE_RESULTS},
            },
            "conversations": self.conversations.summary(),
            "counters": {
                "received": {t: m.value("chatbot_messages_received_total", type=t) for t in FRAME_TYPES},
                "processed": {o: m.value("chatbot_messages_processed_total", outcome=o) for o in OUTCOMES},
                "duplicates": m.value("chatbot_messages_duplicate_total"),
                "queue_rejected": m.value("chatbot_queue_rejected_total", queue="inbound"),
            },
        }


def _engine_knobs(config: BotConfig) -> dict[str, Any]:
    e = config.engine
    return {
        "kind": e.kind,
        "first_token_seconds": e.first_token_seconds,
        "tokens_per_second": e.tokens_per_second,
        "reply_tokens": e.reply_tokens,
        "cpu_ms_per_token": e.cpu_ms_per_token,
        "speed_factor": e.speed_factor,
    }
