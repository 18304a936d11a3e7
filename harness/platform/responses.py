"""Open-API responses: every one is counted by api / status / code, every error says what was wrong."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from harness.core import jsontext
from harness.platform.metrics import PlatformMetrics

BODY = web.RequestKey("body", dict)  # the parsed JSON body, kept for a second look after an error
REFUSED_API = web.ResponseKey("refused_api", str)  # which open API gave an error answer (refusals.py reads it)


class ApiError(Exception):
    """Raised inside a handler; turned into a JSON error response `{code, message, requestid, ...}`,
    or for DingTalk's old API (oapi: /gettoken, /media/upload, the custom robot webhook) into HTTP 200
    with `{errcode, errmsg}` (see `legacy`)."""

    def __init__(self, status: int, code: str, message: str, *, legacy: bool = False, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.legacy = legacy
        self.extra = extra

    @classmethod
    def legacy_errcode(cls, errcode: int, errmsg: str, **extra: Any) -> ApiError:
        """The old API's refusal: HTTP 200 and a nonzero `errcode` (the `code` label is the errcode)."""
        return cls(200, str(errcode), errmsg, legacy=True, **extra)

    @property
    def injected(self) -> bool:
        """Whether a fault the run asked for caused this answer (not the caller)."""
        return self.extra.get("injected") is True


def reply(metrics: PlatformMetrics, api: str, body: dict[str, Any], status: int = 200, code: str = "") -> web.Response:
    metrics.api_response(api, status, code)
    return web.Response(status=status, body=jsontext.dumpb(body), content_type="application/json", charset="utf-8")


def error(metrics: PlatformMetrics, api: str, exc: ApiError) -> web.Response:
    if exc.legacy:
        body = {"errcode": int(exc.code), "errmsg": exc.message, **exc.extra}
    else:
        body = {"code": exc.code, "message": exc.message, "requestid": uuid.uuid4().hex, **exc.extra}
    response = reply(metrics, api, body, exc.status, exc.code)
    response[REFUSED_API] = api
    return response


async def json_body(request: web.Request, limit: int) -> dict[str, Any]:
    """The request's JSON object, or an ApiError saying why it is not acceptable. Kept in request[BODY]."""
    if request.content.at_eof() and BODY in request:  # read already (the body is kept only once read)
        return request[BODY]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "PayloadTooLarge", f"body of {request.content_length} bytes is over the {limit}-byte limit")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, "PayloadTooLarge", f"body is over the {limit}-byte limit")
    ctype = request.content_type
    if ctype not in ("application/json", "application/octet-stream"):  # octet-stream: no header sent
        raise ApiError(415, "UnsupportedMediaType", f"Content-Type must be application/json, got {ctype}")
    try:
        body = jsontext.parse(raw)
    except ValueError as exc:
        raise ApiError(400, "InvalidParameter.Body", f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidParameter.Body", f"body must be a JSON object, got {type(body).__name__}")
    request[BODY] = body
    return body


def required_str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "MissingParameter", f"{name} is required and must be a non-empty string")
    return value
