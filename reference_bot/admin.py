"""Admin HTTP API (aiohttp): POST /login, GET /status (JWT), /metrics, /healthz, /readyz."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from harness.core.contract import BotEvent
from reference_bot.auth import AuthError, LoginGuard, TokenIssuer, password_matches
from reference_bot.logs import event
from reference_bot.metrics import BotMetrics

WARNING = 30


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


class AdminApi:
    def __init__(
        self,
        *,
        username: str,
        password: str,
        issuer: TokenIssuer,
        guard: LoginGuard,
        metrics: BotMetrics,
        status: Callable[[], dict[str, Any]],
        ready: Callable[[], bool],
    ) -> None:
        self.username = username
        self._password = password
        self.issuer = issuer
        self.guard = guard
        self.metrics = metrics
        self.status = status
        self.ready = ready

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/login", self.login)
        app.router.add_get("/status", self.get_status)
        app.router.add_get("/metrics", make_aiohttp_handler(self.metrics.registry))
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        return app

    def _failure(self, username: str, remote: str | None, reason: str) -> None:
        self.metrics.logins.labels(outcome="failure").inc()
        self.guard.failed(username)
        event(BotEvent.LOGIN_FAILED, WARNING, username=username, remote=remote, reason=reason)

    async def login(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("username"), str)
            or not isinstance(body.get("password"), str)
        ):
            self.metrics.logins.labels(outcome="failure").inc()
            return _error(400, 'expected a JSON body {"username": "...", "password": "..."}')
        username = body["username"][:100]
        locked = self.guard.locked_for(username)
        if locked > 0:
            self.metrics.logins.labels(outcome="failure").inc()
            event(
                BotEvent.LOGIN_LOCKED, WARNING, username=username, remote=request.remote, retry_after_s=round(locked, 1)
            )
            return web.json_response(
                {"error": "too many failed logins; try later", "retry_after_s": round(locked, 1)},
                status=429,
                headers={"Retry-After": str(int(locked) + 1)},
            )
        if not self._password:
            self._failure(username, request.remote, "login disabled")
            return _error(503, "login disabled: set BOT_ADMIN_PASSWORD")
        if username != self.username or not password_matches(body["password"], self._password):
            self._failure(username, request.remote, "bad credentials")
            return _error(401, "bad username or password")
        self.guard.succeeded(username)
        self.metrics.logins.labels(outcome="success").inc()
        event(BotEvent.LOGIN_OK, username=username, remote=request.remote)
        return web.json_response(
            {"access_token": self.issuer.issue(username), "token_type": "Bearer", "expires_in": self.issuer.ttl}
        )

    async def get_status(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return web.json_response(
                {"error": "missing bearer token"}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            self.issuer.verify(token.strip())
        except AuthError as exc:
            event(BotEvent.TOKEN_REJECTED, WARNING, remote=request.remote, reason=str(exc))
            return _error(401, str(exc))
        return web.json_response(self.status())

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if self.ready():
            return web.json_response({"ready": True})
        return web.json_response({"ready": False, "reason": "stream not connected"}, status=503)
