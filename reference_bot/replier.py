"""Replier: every open-API call the bot makes, with token caching, the retry policy and counting.

Policy (docs/bot.md "Behaviour under faults"): 401 -> refresh the access token once and repeat;
429, a QPS-limit 403 and 5xx / transport errors -> retry up to max_attempts with backoff factor 1.5
and jitter; a permission 403 is never retried and is logged once per API with the scopes it needs.
Every call first waits for its turn at the API's learned pace (pacer.py), so a rate limit is met by
slowing down rather than by retrying into it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from harness.core import jsontext
from harness.core.contract import BotEvent
from reference_bot.adapter import StandardMessage
from reference_bot.backoff import backoff_delay
from reference_bot.config import RetryPolicy
from reference_bot.logs import event
from reference_bot.metrics import BotMetrics
from reference_bot.pacer import Pacer

TOKEN_HEADER = "x-acs-dingtalk-access-token"
MAX_RETRY_AFTER_SECONDS = 10.0


class ApiError(RuntimeError):
    def __init__(self, api: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{api} failed: HTTP {status} {code} {message}".strip())
        self.api, self.status, self.code = api, status, code


def classify(status: int, body: dict[str, Any]) -> str:
    """What to do with a response: ok, refresh (token), retry, permission (never retried) or fail."""
    if 200 <= status < 300:
        errcode = body.get("errcode")
        return "ok" if errcode in (None, 0, "0") else "fail"
    if status == 401:
        return "refresh"
    if status == 429 or status >= 500 or status == 0:  # 0: no response at all (transport error)
        return "retry"
    if status == 403:
        return "retry" if "QpsLimit" in str(body.get("code", "")) else "permission"
    return "fail"


def is_rate_limit(status: int, body: dict[str, Any]) -> bool:
    return status == 429 or (status == 403 and "QpsLimit" in str(body.get("code", "")))


def parse_body(raw: bytes) -> dict[str, Any]:
    """A response body as a dict: JSON objects as they are, anything else wrapped so callers can .get()."""
    try:
        payload = jsontext.parse(raw) if raw else {}
    except ValueError:
        return {"message": raw[:200].decode("utf-8", "replace")}
    return payload if isinstance(payload, dict) else {"result": payload}


def required_scopes(body: dict[str, Any]) -> list[str]:
    detail = body.get("accessdenieddetail") or {}
    scopes = detail.get("requiredScopes") if isinstance(detail, dict) else None
    return list(scopes or body.get("requiredScopes") or [])


class AccessTokens:
    """One cached token, refreshed before it expires; concurrent callers share one refresh."""

    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, float]]], clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._clock = clock
        self._token = ""
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if self._token and self._clock() < self._refresh_at:
            return self._token
        async with self._lock:
            if not self._token or self._clock() >= self._refresh_at:
                token, ttl = await self._fetch()
                # Refresh early: 10 % of the lifetime before expiry, at most 5 minutes early.
                self._token, self._refresh_at = token, self._clock() + ttl - min(300.0, 0.1 * ttl)
                event(BotEvent.ACCESS_TOKEN_REFRESHED, expires_in_s=ttl)
            return self._token

    def invalidate(self, token: str) -> None:
        if token == self._token:  # several calls may fail with the same stale token; refresh once
            self._token = ""


class Replier:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: str,
        client_id: str,
        client_secret: str,
        retry: RetryPolicy,
        metrics: BotMetrics,
        timeout_seconds: float,
    ) -> None:
        self.session = session
        self.endpoint = endpoint.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.retry = retry
        self.metrics = metrics
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.tokens = AccessTokens(self._fetch_token)
        self.pacer = Pacer()
        self._permission_logged: set[str] = set()

    async def _fetch_token(self) -> tuple[str, float]:
        body = await self.call(
            "access_token",
            "POST",
            f"{self.endpoint}/v1.0/oauth2/accessToken",
            {"appKey": self.client_id, "appSecret": self._client_secret},
            auth=False,
        )
        return str(body["accessToken"]), float(body.get("expireIn", 7200))

    async def _send(
        self, api: str, method: str, url: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], float]:
        try:
            async with self.session.request(method, url, json=body, headers=headers, timeout=self.timeout) as resp:
                raw = await resp.read()
                status = resp.status
                retry_after = resp.headers.get("Retry-After", "")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.metrics.count_request(api, "error")  # no body: the exception name is not a platform code
            return 0, {"code": type(exc).__name__, "message": str(exc)}, 0.0
        payload = parse_body(raw)
        self.metrics.count_request(api, str(status), payload)
        wait = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 0.0
        return status, payload, wait

    async def call(self, api: str, method: str, url: str, body: Any, *, auth: bool = True) -> dict[str, Any]:
        refreshed = False
        attempt = 1
        while True:
            headers = {TOKEN_HEADER: await self.tokens.get()} if auth else {}
            await self.pacer.acquire(api)
            status, payload, retry_after = await self._send(api, method, url, body, headers)
            verdict = classify(status, payload)
            if verdict == "ok":
                self.pacer.succeeded(api)
                self.metrics.set_pace(api, self.pacer.rate(api) or 0.0)
                return payload
            if is_rate_limit(status, payload):
                self.pacer.limited(api)
                self.metrics.set_pace(api, self.pacer.rate(api) or 0.0)
            if verdict == "refresh" and auth and not refreshed:
                refreshed = True
                self.tokens.invalidate(headers[TOKEN_HEADER])
                continue
            if verdict == "retry" and attempt < self.retry.max_attempts:
                self.metrics.platform_retries.labels(api=api).inc()
                delay = backoff_delay(
                    attempt - 1,
                    initial=self.retry.initial_delay_seconds,
                    factor=self.retry.backoff_factor,
                    cap=MAX_RETRY_AFTER_SECONDS,
                    jitter=self.retry.jitter,
                    rand=random.random(),
                )
                await asyncio.sleep(max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS)))
                attempt += 1
                continue
            code = str(payload.get("code", ""))
            if verdict == "permission":
                if api not in self._permission_logged:
                    self._permission_logged.add(api)
                    event(
                        BotEvent.PERMISSION_DENIED,
                        40,
                        api=api,
                        status=status,
                        code=code,
                        requiredScopes=required_scopes(payload),
                    )
            elif verdict == "retry":
                event(BotEvent.RETRIES_EXHAUSTED, 40, api=api, status=status, code=code, attempts=attempt)
            raise ApiError(api, status, code, str(payload.get("message", "")))

    # --- the replies ---

    async def send_text(self, msg: StandardMessage, text: str, markdown: bool = False) -> str:
        """Plain reply through the message's sessionWebhook; robot send when the webhook has expired."""
        if msg.session_webhook and msg.session_webhook_expires_ms > time.time() * 1000:
            body = (
                {"msgtype": "markdown", "markdown": {"title": text[:20], "text": text}}
                if markdown
                else {"msgtype": "text", "text": {"content": text}}
            )
            await self.call("session_webhook", "POST", msg.session_webhook, body, auth=False)
            return "sessionWebhook"
        param = json.dumps({"content": text})
        if msg.conversation_kind == "group":
            url = f"{self.endpoint}/v1.0/robot/groupMessages/send"
            body = {"openConversationId": msg.conversation_id}
        else:
            url = f"{self.endpoint}/v1.0/robot/oToMessages/batchSend"
            body = {"userIds": [msg.sender.staff_id]}
        body.update(
            robotCode=msg.robot_code or self.client_id, msgKey="sampleText", msgParam=param, outTrackId=msg.msg_id
        )
        await self.call("robot_send", "POST", url, body)
        return "robotSend"

    async def create_card(self, msg: StandardMessage) -> str:
        """Create and deliver an AI card for the answer to msg; its outTrackId is the msgId."""
        body: dict[str, Any] = {
            "cardTemplateId": "reference-bot-ai-card",
            "outTrackId": msg.msg_id,
            "cardData": {"cardParamMap": {"content": ""}},
            "callbackType": "STREAM",
        }
        if msg.conversation_kind == "group":
            body["openSpaceId"] = f"dtv1.card//IM_GROUP.{msg.conversation_id}"
            body["imGroupOpenDeliverModel"] = {"robotCode": msg.robot_code or self.client_id}
            body["imGroupOpenSpaceModel"] = {"supportForward": True}
        else:
            body["openSpaceId"] = f"dtv1.card//IM_ROBOT.{msg.sender.staff_id}"
            body["imRobotOpenDeliverModel"] = {"spaceType": "IM_ROBOT"}
            body["imRobotOpenSpaceModel"] = {"supportForward": True}
        await self.call("card_create", "POST", f"{self.endpoint}/v1.0/card/instances/createAndDeliver", body)
        return msg.msg_id

    async def stream_card(self, out_track_id: str, content: str, guid: str, finalize: bool) -> None:
        body = {
            "outTrackId": out_track_id,
            "guid": guid,
            "key": "content",
            "content": content,
            "isFull": True,
            "isFinalize": finalize,
            "isError": False,
        }
        await self.call("card_streaming", "PUT", f"{self.endpoint}/v1.0/card/streaming", body)
