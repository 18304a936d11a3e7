"""Every call the emulator refuses, seen by one aiohttp middleware: each non-2xx answer (unknown routes
and methods included) and each old-API answer with a nonzero `errcode` (HTTP 200 there).

A refusal is counted in `platform_refusals_total` and in the summary's `refusals` (one row per class:
API, method, route, status, code, cause, with counts, first / last time and the first reason), and its
first SAMPLE_PER_CLASS occurrences are written one per line to refusals.jsonl (docs/run-folder.md).
Paths are written without their query string: that is where tokens, secrets and signatures travel.

The cause says whom a refusal is held against: `injected` when a fault the run asked for produced it
(the answer says `"injected": true`, or the request came from the harness's own abusive client),
`harness` for the user socket and the admin API, `bot` for everything else.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from harness.core.contract import INJECTED_HEADER
from harness.core.runfolder.jsonlines import JsonLinesWriter
from harness.platform.clock import SYSTEM_CLOCK, Clock
from harness.platform.metrics import PlatformMetrics
from harness.platform.responses import REFUSED_API

log = logging.getLogger("harness.platform")

SAMPLE_PER_CLASS = 20  # refusals.jsonl lines per class; the counts cover all of them
MAX_CLASSES = 500  # distinct classes kept; unknown paths beyond it share one class
REASON_CHARS = 300
OTHER_ROUTE = "<other unknown paths>"
# Routes of the harness's own sides, and the API name their refusals are filed under.
HARNESS_PREFIXES = (("/admin/", "admin"), ("/user", "user"), ("/healthz", "admin"), ("/metrics", "admin"))
STREAM_PATH = "/connect"
NOT_FOUND_CODE = "InvalidAction.NotFound"
NOT_FOUND_MESSAGE = "Specified api is not found, please check your url and method."
METHOD_CODE = "InvalidAction.MethodNotAllowed"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RefusalClass:
    api: str
    method: str
    route: str
    status: int
    code: str
    cause: str
    count: int = 0
    first_wall: float = 0.0
    last_wall: float = 0.0
    reason: str = ""  # the first one's

    def as_dict(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "method": self.method,
            "route": self.route,
            "status": self.status,
            "code": self.code,
            "cause": self.cause,
            "count": self.count,
            "first_wall": self.first_wall,
            "last_wall": self.last_wall,
            "reason": self.reason,
        }


class Refusals:
    def __init__(self, metrics: PlatformMetrics, clock: Clock = SYSTEM_CLOCK, file: Path | None = None) -> None:
        self.metrics = metrics
        self.clock = clock
        self.classes: dict[tuple[str, str, str, int, str, str], RefusalClass] = {}
        self._writer = JsonLinesWriter(file) if file is not None else None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # the router's 404 / 405, answered the platform's way
            if exc.status < 400:
                raise
            response = _routing_error(request, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an emulator bug must not look like a bot problem; say so and go on
            log.exception("internal error answering %s %s", request.method, request.path)
            response = web.json_response(
                {"code": "InternalError", "message": f"emulator error: {exc!r}"[:REASON_CHARS]}, status=500
            )
        self._observe(request, response)
        return response

    def _observe(self, request: web.Request, response: web.StreamResponse) -> None:
        status = response.status
        # the hot path: answered (an empty response state has no REFUSED_API: a membership test on the
        # mapping raises and catches a KeyError inside); 101: a WebSocket
        if status < 200 or (status < 300 and (not len(response) or REFUSED_API not in response)):
            return
        body = _json_of(response) if isinstance(response, web.Response) else {}
        errcode = body.get("errcode")
        refused_with_200 = status == 200 and isinstance(errcode, int) and errcode != 0
        if status < 300 and not refused_with_200:
            return
        code = str(errcode) if refused_with_200 else str(body.get("code") or body.get("errcode") or "")
        reason = str(body.get("message") or body.get("errmsg") or response.reason or "")[:REASON_CHARS]
        api, cause = self._api_and_cause(request, response, body)
        self.record(request.method, request.path, _route(request), status, api, code[:64], reason, cause)

    def _api_and_cause(
        self, request: web.Request, response: web.StreamResponse, body: dict[str, Any]
    ) -> tuple[str, str]:
        api = response.get(REFUSED_API)
        if api is None:
            api = next((name for prefix, name in HARNESS_PREFIXES if request.path.startswith(prefix)), None)
            if api is not None:
                return api, "harness"
            api = "stream" if request.path == STREAM_PATH else _api_of_path(request) or "unknown"
        injected = body.get("injected") is True or request.headers.get(INJECTED_HEADER) is not None
        return api, "injected" if injected else "bot"

    def record(
        self, method: str, path: str, route: str, status: int, api: str, code: str, reason: str, cause: str
    ) -> None:
        key = (api, method, route, status, code, cause)
        refused = self.classes.get(key)
        if refused is None:
            if len(self.classes) >= MAX_CLASSES and api == "unknown":
                key = (api, method, OTHER_ROUTE, status, code, cause)
                route = OTHER_ROUTE
                refused = self.classes.get(key)
            if refused is None:
                refused = self.classes[key] = RefusalClass(api, method, route, status, code, cause, reason=reason)
        now = self.clock.wall()
        refused.count += 1
        refused.first_wall = refused.first_wall or now
        refused.last_wall = now
        self.metrics.refusals.labels(api, str(status), code, cause).inc()
        if self._writer is not None and refused.count <= SAMPLE_PER_CLASS:
            self._writer.write(
                {
                    "wall": now,
                    "method": method,
                    "path": path[:REASON_CHARS],
                    "route": route,
                    "status": status,
                    "api": api,
                    "code": code,
                    "cause": cause,
                    "reason": reason,
                }
            )

    def summary(self) -> list[dict[str, Any]]:
        return [c.as_dict() for c in self.classes.values()]


def _route(request: web.Request) -> str:
    """The route's template (`/v1.0/card/instances`), or the path itself when no route matched."""
    route = request.match_info.route
    if route.resource is not None and route.handler is not None and request.match_info.http_exception is None:
        return route.resource.canonical
    return request.path[:200]


def _api_of_path(request: web.Request) -> str | None:
    """The open API served at this path (a wrong method on a known route), from its endpoint's `api`."""
    for route in request.app.router.routes():
        if route.resource is not None and route.resource.canonical == request.path:
            api = getattr(route.handler, "api", None)
            if isinstance(api, str):
                return api
    return None


def _json_of(response: web.Response) -> dict[str, Any]:
    if response.content_type != "application/json" or not isinstance(response.body, (bytes, bytearray)):
        return {}
    try:
        body = json.loads(response.body)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _routing_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        body = {
            "code": METHOD_CODE,
            "message": f"{request.method} is not allowed on {request.path}; this route takes {allowed or 'other methods'}",
        }
        return web.json_response(body, status=405, headers={"Allow": allowed} if allowed else None)
    if exc.status == 404:
        return web.json_response({"code": NOT_FOUND_CODE, "message": NOT_FOUND_MESSAGE}, status=404)
    return web.json_response({"code": type(exc).__name__, "message": exc.reason}, status=exc.status)
