"""The open API a bot answers through: access tokens, session webhooks, robot send and the custom robot
webhook (AI cards: cards.py); with token checks, permission scopes, QPS limits and injected faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from harness.core.contract import REQUIRED_SCOPE, DingTalkCode
from harness.core.faults import Faults
from harness.platform import frames
from harness.platform.config import Settings
from harness.platform.guard import Guard
from harness.platform.ledger import Ledger, Record
from harness.platform.metrics import PlatformMetrics
from harness.platform.responses import ApiError, error, json_body, reply, required_str
from harness.platform.tokens import TokenIssuer
from harness.platform.users import Users

log = logging.getLogger("harness.platform")

TOKEN_HEADER = "x-acs-dingtalk-access-token"
Handler = Callable[[web.Request], Awaitable[dict[str, Any]]]
Resolver = Callable[[web.Request, dict[str, Any]], "Record | None"]  # which message a call was answering


class OpenApi:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        metrics: PlatformMetrics,
        faults: Faults,
        guard: Guard,
        tokens: TokenIssuer,
        users: Users,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.metrics = metrics
        self.faults = faults
        self.tokens = tokens
        self.users = users
        self.guard = guard
        self.unmatched_replies = 0
        self.resolvers: dict[str, Resolver] = {
            "session_webhook": self._session_record,
            "robot_send": self._robot_send_record,
        }

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1.0/oauth2/accessToken", self.endpoint("access_token", self._access_token)),
            web.get("/gettoken", self.endpoint("access_token", self._legacy_token)),
            web.post("/robot/sendBySession", self.endpoint("session_webhook", self._session_webhook)),
            web.post("/v1.0/robot/oToMessages/batchSend", self.endpoint("robot_send", self._robot_send)),
            web.post("/v1.0/robot/groupMessages/send", self.endpoint("robot_send", self._robot_send)),
            web.post("/robot/send", self.endpoint("robot_webhook", self._robot_webhook)),
        ]

    def endpoint(self, api: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def endpoint(request: web.Request) -> web.Response:
            try:
                return reply(self.metrics, api, await handler(request))
            except ApiError as exc:
                await self._blame(request, api, exc)
                return error(self.metrics, api, exc)
            except Exception as exc:  # an emulator bug must not look like a bot problem; say so and go on
                log.exception("internal error in %s", api)
                return error(self.metrics, api, ApiError(500, "InternalError", f"emulator error: {exc!r}"[:300]))

        endpoint.api = api  # type: ignore[attr-defined]  # what a refused wrong method on this route is filed under
        return endpoint

    async def _blame(self, request: web.Request, api: str, exc: ApiError) -> None:
        """A refused answer to a pending message is remembered: if it is never answered, it was lost
        at stage reply_rejected, and the sample says why."""
        resolver = self.resolvers.get(api)
        if resolver is None:
            return
        try:
            body = await json_body(request, self.settings.max_payload_bytes)
        except ApiError:
            body = {}
        try:
            record = resolver(request, body)
        except ApiError:
            return
        if record is not None and not record.final:
            self.ledger.reply_rejected(record, f"{api} answered {exc.status} {exc.code}: {exc.message}"[:300])

    def _session_record(self, request: web.Request, body: dict[str, Any]) -> Record | None:
        return self.ledger.get(self.tokens.session_of(request.query.get("session")).msg_id)

    def _robot_send_record(self, request: web.Request, body: dict[str, Any]) -> Record | None:
        out_track_id, cid = body.get("outTrackId"), body.get("openConversationId")
        if isinstance(out_track_id, str) and (record := self.ledger.get(out_track_id)):
            return record
        app_id = self.tokens.app_of(request.headers.get(TOKEN_HEADER))
        return self.ledger.oldest_unanswered(cid, app_id) if isinstance(cid, str) else None

    # --- shared checks ------------------------------------------------------------------------------
    def authorize(self, request: web.Request, api: str) -> str:
        """Token, IP whitelist, scope, robot, injected faults and QPS, in the order the real platform
        checks them (the whitelist's and the robot's place in it assumed: docs/platform.md)."""
        app_id = self.tokens.app_of(request.headers.get(TOKEN_HEADER))
        app = self.settings.app(app_id)
        if app is None:
            raise ApiError(401, "InvalidAuthentication", f"access token names app {app_id!r}, which is not configured")
        if not app.allows_ip(request.remote):
            raise ApiError(
                403,
                DingTalkCode.IP_NOT_WHITELISTED,
                f"访问ip不在白名单之中: request ip={request.remote} appKey({app_id}) is not in the app's server IP whitelist",
            )
        scope = REQUIRED_SCOPE.get(api)
        if scope and scope not in app.scopes:
            raise ApiError(
                403,
                DingTalkCode.PERMISSION_DENIED,
                f"app {app_id} lacks the permission scope {scope}",
                accessdenieddetail={"requiredScopes": [scope]},
            )
        if api == "robot_send" and not app.bot_enabled:
            raise ApiError(400, DingTalkCode.ROBOT_NOT_FOUND, f"robot 不存在: the robot of app {app_id} is disabled")
        self.guard.check(app_id, api)
        return app_id

    def check_old_api(self, app_id: str, api: str) -> None:
        """The guard's checks (injected errors, QPS) on an old-API route: refused with the old API's codes."""
        try:
            self.guard.check(app_id, api)
        except ApiError as exc:
            raise ApiError.legacy_errcode(_legacy_code(exc), exc.message, **exc.extra) from None

    def answer(self, record: Record | None, payload: dict[str, Any], final: bool) -> None:
        if record is None:
            return
        if record.final:  # answered twice in one call (e.g. the same user listed twice)
            self.ledger.answer_for_final(record.msg_id)
            return
        if record.recipient is not None:
            record.recipient.notify({"clientMsgId": record.client_msg_id, "msgId": record.msg_id, **payload})
        if final:
            self.ledger.replied(record)
        else:
            self.ledger.chunk(record)

    def pending(self, msg_id: str) -> Record | None:
        record = self.ledger.get(msg_id)
        if record is None or record.final:
            self.ledger.answer_for_final(msg_id)
            return None
        return record

    # --- endpoints ----------------------------------------------------------------------------------
    async def _access_token(self, request: web.Request) -> dict[str, Any]:
        body = await json_body(request, self.settings.max_payload_bytes)
        app_key, secret = required_str(body, "appKey"), required_str(body, "appSecret")
        app = self.settings.app(app_key)
        if app is None or not app.accepts_secret(secret):
            self.metrics.login_failures.labels("access_token").inc()
            log.warning("accessToken refused: bad credentials for appKey %r from %s", app_key, request.remote)
            raise ApiError(401, "InvalidAuthentication", "appKey / appSecret do not match a configured app")
        self.guard.check(app.app_id, "access_token")
        ttl = self.faults.token_ttl_s or self.settings.token_ttl_s
        return {"accessToken": self.tokens.access_token(app.app_id, ttl), "expireIn": int(ttl)}

    async def _legacy_token(self, request: web.Request) -> dict[str, Any]:
        """The old API's token (oapi.dingtalk.com/gettoken, the Node SDK's getAccessToken): the same access
        token as the OAuth2 route, refused the old API's way (HTTP 200, errcode); a failed credential
        check is a failed login like the OAuth2 one."""
        app_key, secret = request.query.get("appkey", ""), request.query.get("appsecret", "")
        app = self.settings.app(app_key) if app_key else None
        if app is None or app.secret != secret:
            self.metrics.login_failures.labels("access_token").inc()
            log.warning("gettoken refused: bad credentials for appkey %r from %s", app_key, request.remote)
            missing = [name for name, value in (("appkey", app_key), ("appsecret", secret)) if not value]
            why = f"missing {' and '.join(missing)}" if missing else "appkey / appsecret do not match a configured app"
            raise ApiError.legacy_errcode(LEGACY_BAD_CREDENTIALS, f"invalid appkey or appsecret: {why}")
        self.check_old_api(app.app_id, "access_token")
        ttl = self.faults.token_ttl_s or self.settings.token_ttl_s
        return {
            "errcode": 0,
            "errmsg": "ok",
            "access_token": self.tokens.access_token(app.app_id, ttl),
            "expires_in": int(ttl),
        }

    async def _session_webhook(self, request: web.Request) -> dict[str, Any]:
        session = self.tokens.session_of(request.query.get("session"))
        body = await json_body(request, self.settings.max_payload_bytes)
        self.guard.check(session.app_id, "session_webhook")
        msgtype, content = _message_content(body)
        self.answer(
            self.pending(session.msg_id),
            {"type": "reply", "via": "sessionWebhook", "msgtype": msgtype, "content": content},
            final=True,
        )
        return {"errcode": 0, "errmsg": "ok"}

    async def _robot_send(self, request: web.Request) -> dict[str, Any]:
        app_id = self.authorize(request, "robot_send")
        body = await json_body(request, self.settings.max_payload_bytes)
        required_str(body, "robotCode")
        msg_key = required_str(body, "msgKey")
        param = body.get("msgParam", "{}")
        payload = {"type": "reply", "via": "robotSend", "msgtype": msg_key, "content": param}
        if "openConversationId" in body:
            cid = required_str(body, "openConversationId")
            record = self.answered_message(body, cid, app_id)
            if record is None and not self.names_message(body):  # naming an answered one: a duplicate
                self.unmatched_replies += 1
                self.users.notify_users(sorted(self.users.members.get(cid, ())), {**payload, "type": "notice"})
            self.answer(record, payload, final=True)
            return {"processQueryKey": f"pqk-{time.time_ns()}"}
        users = body.get("userIds")
        if not isinstance(users, list) or not users or not all(isinstance(u, str) for u in users):
            raise ApiError(
                400,
                "MissingParameter",
                "userIds must be a non-empty list of staff ids (or send openConversationId for a group)",
            )
        named = self.names_message(body)
        tracked = self.by_out_track(body)
        for user in users:
            cid = self.users.one_to_one.get((app_id, user))
            if named:  # only the named message's sender is answered; other listed users get nothing credited
                record = tracked if tracked is not None and tracked.sender == user else None
            else:
                record = self.ledger.oldest_unanswered(cid, app_id) if cid else None
            if record is None and not (named and tracked is None):  # naming an answered one: a duplicate
                self.unmatched_replies += 1
                self.users.notify_users([user], {**payload, "type": "notice"})
            self.answer(record, payload, final=True)
        return {"processQueryKey": f"pqk-{time.time_ns()}", "invalidStaffIdList": [], "flowControlledStaffIdList": []}

    async def _robot_webhook(self, request: web.Request) -> dict[str, Any]:
        query = request.query
        robot = next((r for r in self.settings.robots if r.access_token == query.get("access_token")), None)
        if robot is None:
            raise ApiError.legacy_errcode(300001, "token is not exist")
        _check_signature(
            robot.secret,
            query.get("timestamp", ""),
            query.get("sign", ""),
            self.settings.signature_window_s,
            self.ledger.clock.wall(),
        )
        body = await json_body(request, self.settings.max_payload_bytes)
        msgtype, content = _message_content(body)
        members = sorted(self.users.members.get(robot.conversation_id, ()))
        self.users.notify_users(
            members,
            {
                "type": "notice",
                "via": "robotWebhook",
                "msgtype": msgtype,
                "conversationId": robot.conversation_id,
                "content": content,
            },
        )
        return {"errcode": 0, "errmsg": "ok"}

    # --- which message does a reply answer? ---------------------------------------------------------
    def names_message(self, body: dict[str, Any]) -> bool:
        """Whether the call's outTrackId is one of our msgIds: then it answers that message and no other."""
        out_track_id = body.get("outTrackId")
        return isinstance(out_track_id, str) and frames.is_our_id(out_track_id, frames.MSG_ID_PREFIX)

    def by_out_track(self, body: dict[str, Any]) -> Record | None:
        """The pending message the outTrackId names; None when it names none, or one already answered
        (then counted as a duplicate reply, never credited to another message)."""
        out_track_id = body.get("outTrackId")
        return self.pending(out_track_id) if self.names_message(body) else None

    def answered_message(self, body: dict[str, Any], conversation_id: str | None, app_id: str) -> Record | None:
        """Which message a reply answers: the one its outTrackId names, if it names one (even when that
        one is answered already); only a reply that names none falls back to the oldest unanswered
        message of its conversation (how the official SDKs' cards, with random outTrackIds, are matched)."""
        if self.names_message(body):
            return self.by_out_track(body)
        return self.ledger.oldest_unanswered(conversation_id, app_id) if conversation_id else None


# DingTalk's old-API (oapi) error codes for the refusals the emulator makes there
LEGACY_BAD_CREDENTIALS = 40089  # 不合法的corpId或corpSecret: wrong or missing appkey / appsecret
LEGACY_SECRET_OR_TOKEN = 40001  # 获取access_token时Secret错误，或者access_token无效
LEGACY_NO_PERMISSION = 60011  # 没有调用该接口的权限
LEGACY_QPS_LIMIT = 90018  # the app called this API above its QPS limit


def _legacy_code(exc: ApiError) -> int:
    """The old API's errcode for a refusal the new API gives as an HTTP status."""
    if exc.status == 429 or "QpsLimit" in exc.code:
        return LEGACY_QPS_LIMIT
    return LEGACY_NO_PERMISSION if exc.status == 403 else LEGACY_SECRET_OR_TOKEN


# What a robot message of each msgtype must carry (sessionWebhook and custom robot webhook alike), and
# the field that is its text for the user: msgtype -> (object, required fields, text field).
MESSAGE_TYPES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "text": ("text", ("content",), "content"),
    "markdown": ("markdown", ("title", "text"), "text"),
    "actionCard": ("actionCard", ("title", "text"), "text"),
    "link": ("link", ("title", "text", "messageUrl"), "text"),
}


def _message_content(body: dict[str, Any]) -> tuple[str, str]:
    """(msgtype, the text the user reads) of a robot message; a 400 naming the first field missing."""
    msgtype = body.get("msgtype")
    if msgtype == "feedCard":
        links = (body.get("feedCard") or {}).get("links") if isinstance(body.get("feedCard"), dict) else None
        if not isinstance(links, list) or not links or not all(isinstance(x, dict) and x.get("title") for x in links):
            raise ApiError(
                400, "MissingParameter", "feedCard.links must be a non-empty list of {title, messageURL, picURL}"
            )
        return msgtype, "\n".join(str(x["title"]) for x in links)
    if not isinstance(msgtype, str) or msgtype not in MESSAGE_TYPES:
        known = ", ".join([*MESSAGE_TYPES, "feedCard"])
        raise ApiError(400, "InvalidParameter.Msgtype", f"msgtype must be one of {known}, got {msgtype!r}"[:300])
    name, required, text_field = MESSAGE_TYPES[msgtype]
    part = body.get(name)
    if msgtype == "text" and isinstance(part, dict) and isinstance(part.get("content"), str):
        return msgtype, part["content"]  # the hot path: most replies are plain text
    for field in required:
        value = part.get(field) if isinstance(part, dict) else None
        if not isinstance(value, str) or (field != "content" and not value):
            raise ApiError(400, "MissingParameter", f"{name}.{field} is required and must be a string")
    return msgtype, part[text_field]


def sign(secret: str, timestamp_ms: str) -> str:
    """The custom robot signature: urlencode(base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def _check_signature(secret: str, timestamp: str, signature: str, window_s: float, now: float) -> None:
    def refuse(why: str) -> ApiError:
        return ApiError.legacy_errcode(310000, why)

    if not timestamp.isdigit() or abs(now * 1000 - int(timestamp)) > window_s * 1000:
        raise refuse("invalid timestamp")
    # aiohttp has already URL-decoded the query value once; compare against the decoded form.
    expected = urllib.parse.unquote_plus(sign(secret, timestamp))
    if not hmac.compare_digest(expected, signature):
        raise refuse("sign not match")
