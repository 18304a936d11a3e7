"""Admin HTTP API (aiohttp): POST /login, GET /status (JWT), /metrics, /healthz, /readyz."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from harness.core import jsontext
from harness.core.contract import BotEvent
from reference_bot.auth import AuthError, LoginGuard, LogThrottle, TokenIssuer, UsernameTag, password_matches
from reference_bot.logs import event
from reference_bot.metrics import BotMetrics

WARNING = 30
# Failed-login lines: a burst of 20, then 2 a second; the rest are counted into the next line's
# `suppressed` (a flood must not fill the disk, and the metric counts every attempt anyway).
LOG_BURST, LOG_PER_SECOND = 20, 2.0


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
        self._log_throttle = LogThrottle(LOG_PER_SECOND, LOG_BURST)
        self._tag = UsernameTag(username)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/login", self.login)
        app.router.add_get("/status", self.get_status)
        app.router.add_get("/metrics", make_aiohttp_handler(self.metrics.registry))
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        return app

    def _throttled(self, username: str, remote: str) -> dict[str, Any] | None:
        """The fields of a failed-login line, or None when the log rate limit leaves this one out."""
        suppressed = self._log_throttle.allow()
        if suppressed is None:
            return None
        return {"username": self._tag(username), "remote": remote, "suppressed": suppressed}

    def _failure(self, username: str, remote: str, reason: str) -> None:
        self.metrics.logins.labels(outcome="failure").inc()
        self.guard.failed(username, remote)
        if (fields := self._throttled(username, remote)) is not None:
            event(BotEvent.LOGIN_FAILED, WARNING, reason=reason, **fields)

    async def login(self, request: web.Request) -> web.Response:
        try:
            body = jsontext.parse(await request.read())
        except ValueError:
            body = None
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("username"), str)
            or not isinstance(body.get("password"), str)
        ):
            self.metrics.logins.labels(outcome="failure").inc()
            return _error(400, 'expected a JSON body {"username": "...", "password": "..."}')
        username = body["username"][:100]
        remote = request.remote or "unknown"
        locked = self.guard.locked_for(username, remote)
        if locked > 0:
            self.metrics.logins.labels(outcome="failure").inc()
            if (fields := self._throttled(username, remote)) is not None:
                event(BotEvent.LOGIN_LOCKED, WARNING, retry_after_s=round(locked, 1), **fields)
            return web.json_response(
                {"error": "too many failed logins; try later", "retry_after_s": round(locked, 1)},
                status=429,
                headers={"Retry-After": str(int(locked) + 1)},
            )
        if not self._password:
            self._failure(username, remote, "login disabled")
            return _error(503, "login disabled: set BOT_ADMIN_PASSWORD")
        if username != self.username or not password_matches(body["password"], self._password):
            self._failure(username, remote, "bad credentials")
            return _error(401, "bad username or password")
        self.guard.succeeded(username, remote)
        self.metrics.logins.labels(outcome="success").inc()
        event(BotEvent.LOGIN_OK, username=username, remote=remote)
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
            claims = self.issuer.verify(token.strip())
            if claims["sub"] != self.username:  # signed by us, but not for the admin account
                raise AuthError("token is not for the admin account")
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
