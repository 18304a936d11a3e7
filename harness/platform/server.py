"""The emulator as one aiohttp application on one port: bot stream, open API, user side and admin.

In-process use (tests, benchmarks, the orchestrator):

    async with PlatformServer(Settings(apps=(AppConfig(app_id="app", secret="secret"),))) as srv:
        srv.url  # http://127.0.0.1:PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from harness.core import jsontext
from harness.core.faults import DISCONNECT_KINDS, FaultError, Faults, read_faults
from harness.core.runfolder.writer import write_json_atomic
from harness.platform.adminauth import authorized
from harness.platform.cards import Cards
from harness.platform.clock import SYSTEM_CLOCK, Clock
from harness.platform.config import Settings
from harness.platform.gateway import Gateway
from harness.platform.guard import Guard
from harness.platform.ledger import Ledger
from harness.platform.media import Media
from harness.platform.metrics import CONTENT_TYPE, PlatformMetrics
from harness.platform.openapi import OpenApi
from harness.platform.refusals import Refusals
from harness.platform.robotcards import RobotCards
from harness.platform.schedule import FaultSchedule
from harness.platform.sockets import Sockets
from harness.platform.tokens import TokenIssuer
from harness.platform.users import Users

log = logging.getLogger("harness.platform")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PlatformServer:
    def __init__(
        self,
        settings: Settings,
        faults: dict[str, Any] | None = None,
        ledger_file: str | Path | None = None,
        drain_s: float = 0.0,
        clock: Clock = SYSTEM_CLOCK,
        refusals_file: str | Path | None = None,
    ) -> None:
        """`faults`: a [faults] table (may hold a `schedule` list; FaultError if bad); `drain_s`: how long
        stop() waits for in-flight messages before counting them lost; `clock`: what every timeout and
        expiry is due on; `refusals_file`: where the first refusals of each class go (JSON lines)."""
        self.settings = settings
        self.clock = clock
        self.metrics = PlatformMetrics()
        self.faults = Faults()
        table = read_faults(faults or {})
        self.faults.apply(table)
        self.schedule = FaultSchedule(self.faults, table.schedule)
        for app in settings.apps:  # a scrape shows 0 connections rather than no series before the bot connects
            self.metrics.connections.labels(app.app_id).set(0)
        self.ledger = Ledger(
            self.metrics, settings.reply_timeout_s, settings.lost_sample_size, settings.final_memory_s, clock
        )
        self.tokens = TokenIssuer(clock)
        guard = Guard(settings, self.faults, clock)
        self.gateway = Gateway(settings, self.ledger, self.metrics, self.faults, guard, clock)
        self.users = Users(settings, self.ledger, self.gateway, self.tokens)
        self.openapi = OpenApi(settings, self.ledger, self.metrics, self.faults, guard, self.tokens, self.users)
        self.cards = Cards(self.openapi)
        self.refusals = Refusals(self.metrics, clock, Path(refusals_file) if refusals_file else None)
        self.ledger_file = Path(ledger_file) if ledger_file else None
        self.ledger_unwritten: OSError | None = None  # why stop() could not write the ledger file
        self.drain_s = drain_s
        self.url = ""
        self.port = 0  # the bound port, once started
        self.sockets = Sockets(settings, clock)
        self._admin_refused = 0
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.settings.max_payload_bytes + 1024, middlewares=[self.refusals.middleware]
        )
        app.add_routes(
            [
                web.post("/v1.0/gateway/connections/open", self.gateway.open_connection),
                web.get("/connect", self.gateway.stream),
                web.get("/user", self.users.handle),
                *self.openapi.routes(),
                *self.cards.routes(),
                *RobotCards(self.openapi).routes(),
                *Media(self.openapi).routes(),
                web.get("/healthz", self._healthz),
                web.get("/metrics", self._metrics),
                web.get("/admin/ledger", self._admin(self._ledger)),
                web.get("/admin/status", self._admin(self._status)),
                web.get("/admin/faults", self._admin(self._get_faults)),
                web.post("/admin/faults", self._admin(self._post_faults)),
                web.post("/admin/actions/disconnect", self._admin(self._disconnect)),
                web.post("/admin/routing", self._admin(self._post_routing)),
                web.post("/admin/incidents", self._admin(self._post_incident)),
            ]
        )
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(
            self.app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=5.0,
            keepalive_timeout=self.settings.idle_timeout_s,
        )
        await self._runner.setup()
        assert self._runner.server is not None
        loop = asyncio.get_running_loop()
        # every connection passes the limit and the header timeout before aiohttp sees it (sockets.py)
        sweep = self.sockets.start(loop, self._runner.server)
        try:
            self._listener = await loop.create_server(
                self.sockets.protocol, self.settings.host, self.settings.port, reuse_address=True, backlog=128
            )
        except OSError:
            sweep.cancel()
            self.sockets.close()
            await self._runner.cleanup()
            raise
        port = self.port = self._listener.sockets[0].getsockname()[1]
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "::", "") else self.settings.host
        self.url = self.settings.public_url.rstrip("/") or f"http://{host}:{port}"
        self.gateway.ws_url = self.url.replace("http", "ws", 1) + "/connect"
        self.users.base_url = self.url
        self._tasks = [sweep, loop.create_task(self.gateway.run_timers()), loop.create_task(self.schedule.run())]
        log.info(
            "platform emulator serving on %s (apps: %s)",
            self.url,
            ", ".join(a.app_id for a in self.settings.apps) or "none",
        )
        return self.url

    async def stop(self) -> None:
        deadline = self.clock.monotonic() + self.drain_s
        while self.ledger.pending and self.clock.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.ledger.lose_all_pending("emulator stopped before the message was answered")
        if self._listener is not None:
            self._listener.close()  # no new connections
        self.sockets.close()
        await asyncio.gather(self.gateway.close_all(), self.users.close_all())
        if self._runner is not None:
            await self._runner.cleanup()
        self.refusals.close()
        if self.ledger_file is not None:
            try:
                write_json_atomic(self.ledger_file, self.summary())
            except OSError as exc:  # a full disk: say so in one line; the run keeps its last snapshot
                self.ledger_unwritten = exc
                log.error("ledger NOT written to %s: %s", self.ledger_file, exc.strerror or exc)
            else:
                log.info("ledger written to %s", self.ledger_file)

    async def __aenter__(self) -> PlatformServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def summary(self) -> dict[str, Any]:
        result = self.ledger.summary()
        result["bad_input"] = dict(self.gateway.bad_input.counts + self.users.bad_input.counts)
        result["faults_applied"] = dict(self.gateway.fault_hits)
        result["unmatched_replies"] = self.openapi.unmatched_replies
        result["sockets"] = self.sockets.summary()
        result["refusals"] = self.refusals.summary()
        return result

    # --- admin --------------------------------------------------------------------------------------
    def _admin(self, handler: Handler) -> Handler:
        """`handler` behind the admin token (adminauth.py), when one is configured."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            if authorized(request, self.settings.admin_token):
                return await handler(request)
            self._admin_refused += 1
            if self._admin_refused <= 20 or self._admin_refused % 1000 == 0:
                log.warning(
                    "admin request refused from %s: no valid admin token (#%d)", request.remote, self._admin_refused
                )
            return web.json_response(
                {"code": "Unauthorized", "message": "the admin API needs Authorization: Bearer <admin token>"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )

        return guarded

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    async def _ledger(self, request: web.Request) -> web.Response:
        return web.json_response(self.summary())

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response({**self.gateway.status(), "url": self.url, "faults": self.faults.as_dict()})

    async def _get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.as_dict())

    async def _post_faults(self, request: web.Request) -> web.Response:
        try:
            # NaN, Infinity and 1e999 parse here so that read_faults refuses them naming the field
            changes = jsontext.parse(await request.read(), constants=True)
            table = read_faults(changes)
        except (ValueError, FaultError) as exc:
            return web.json_response({"code": "InvalidFaults", "message": str(exc)}, status=400)
        self.faults.apply(table)
        if table.schedule:
            schedule = FaultSchedule(self.faults, table.schedule)
            self._tasks.append(asyncio.get_running_loop().create_task(schedule.run()))
        log.info("faults changed: %s", changes)
        return web.json_response(self.faults.as_dict())

    async def _body(self, request: web.Request) -> dict[str, Any] | None:
        """A JSON object body ({} when there is none); None when it is not one."""
        try:
            body = jsontext.parse(await request.read()) if request.can_read_body else {}
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def _post_routing(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        try:
            self.gateway.set_routing(body.get("mode") if body is not None else None)  # type: ignore[arg-type]
        except ValueError as exc:
            return web.json_response({"code": "InvalidParameter", "message": f"body.{exc}"}, status=400)
        return web.json_response({"routing": self.gateway.routing})

    async def _post_incident(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        label, connection = (body or {}).get("label", ""), (body or {}).get("connection", "")
        if body is None or not isinstance(label, str) or not isinstance(connection, str):
            return web.json_response(
                {
                    "code": "InvalidParameter",
                    "message": 'body must be {"label": "<text>", "connection": "<connection id>"}; '
                    "without a connection: the serving one",
                },
                status=400,
            )
        opened = self.gateway.open_incident(label, connection)
        if opened is None:
            return web.json_response(
                {"code": "NotFound", "message": f"no live connection {connection or '(serving)'} to follow"}, status=404
            )
        return web.json_response(opened)

    async def _disconnect(self, request: web.Request) -> web.Response:
        try:
            body = jsontext.parse(await request.read()) if request.can_read_body else {}
        except ValueError:
            body = None
        app = body.get("app") if isinstance(body, dict) else None
        kind = body.get("kind", "system") if isinstance(body, dict) else None
        if (
            not isinstance(body, dict)
            or (app is None and body.get("all") is not True)
            or (app is not None and self.settings.app(str(app)) is None)
        ):
            return web.json_response(
                {"code": "InvalidParameter", "message": 'body must be {"app": "<configured app id>"} or {"all": true}'},
                status=400,
            )
        if kind not in DISCONNECT_KINDS:
            kinds = ", ".join(f'"{k}"' for k in DISCONNECT_KINDS)
            return web.json_response(
                {"code": "InvalidParameter", "message": f"kind must be one of {kinds}"}, status=400
            )
        reason = str(body.get("reason", "admin requested disconnect"))
        return web.json_response({"disconnected": self.gateway.disconnect(app, reason, kind)})
