"""The source design's setup checklist (section 1) as calls against one platform: the emulator or DingTalk.

Each item is decided by the smallest call whose answer tells it, and every call is harmless: it only
reads (an access token, a stream ticket) or is incomplete on purpose (no card id, no recipient), so the
platform refuses it after its token, IP and permission checks and before it does anything. Which call
proves which item is in PROBES and docs/doctor.md.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from harness.core.contract import PERMISSION_SCOPES, REQUIRED_SCOPE, DingTalkCode, ExitCode
from harness.core.version import __version__
from harness.platform.openapi import TOKEN_HEADER

Status = Literal["pass", "fail", "unknown"]
REQUEST_TIMEOUT_S = 10.0
USER_ID = "harness-doctor"  # the simulated employee who sends /test on an emulator's user side

# item -> how the checklist line names it, in the order they are printed
ITEMS: dict[str, str] = {
    "token": "token issued",
    "stream": "stream connection",
    "ip_whitelist": "IP whitelist",
    **{f"scope:{scope}": f"permission {scope}" for scope in PERMISSION_SCOPES},
    "bot_enabled": "bot enabled",
    "test_round_trip": "/test round trip",
}

CONSOLE = "DingTalk developer console (open-dev.dingtalk.com), your app"
FIX_CREDENTIALS = (
    f"copy the Client ID (AppKey) and Client Secret (AppSecret) again from the {CONSOLE}, Credentials and "
    "basic info, into the bot's DINGTALK_CLIENT_ID / DINGTALK_CLIENT_SECRET (resetting the secret there "
    "invalidates every copy)"
)
FIX_STREAM_MODE = (
    f"in the {CONSOLE}, Robot configuration: set the message receiving mode to Stream mode, save, and publish "
    "the app version"
)
FIX_IP = (
    f"add this machine's egress IP{{ip}} to the server egress IP whitelist in the {CONSOLE}, Development "
    "management (changes take a few minutes)"
)
FIX_SCOPE = f"in the {CONSOLE}, Permission management: apply for {{scope}}; new access tokens carry it once granted"
FIX_BOT = (
    f"in the {CONSOLE}, Robot configuration: enable the robot and publish the app version that contains it; "
    "check that the robotCode ({code}) is the robot's (default: the Client ID; --robot-code)"
)


@dataclass(frozen=True)
class Check:
    """One checklist line: the item, pass / fail / unknown, what the platform answered, the exact fix."""

    item: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f"; fix: {self.fix}" if self.fix else ""
        return f"{self.status:<8}{ITEMS[self.item]:<34}{self.detail}{fix}"


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)
    robot_code: str = ""  # default: the client id, as DingTalk does

    @property
    def code(self) -> str:
        return self.robot_code or self.client_id


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: its status and JSON body ({} when it had none)."""

    status: int
    body: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.body.get("code") or "")

    @property
    def required_scopes(self) -> list[str]:
        detail = self.body.get("accessdenieddetail")
        scopes = detail.get("requiredScopes") if isinstance(detail, dict) else None
        return [str(s) for s in scopes] if isinstance(scopes, list) else []

    def text(self) -> str:
        message = str(self.body.get("message") or self.body.get("errmsg") or "")
        return " ".join(f"HTTP {self.status} {self.code} {message}".split())[:240]

    def refused(self, code: str) -> bool:
        return self.status >= 400 and self.code == code


@dataclass(frozen=True)
class Probe:
    """A call whose answer shows whether the app holds the scope of `api` (contract REQUIRED_SCOPE)."""

    api: str
    method: str
    path: str

    def body(self, creds: Credentials) -> dict[str, Any]:
        if self.api == "robot_send":  # complete but for its recipients: the robot is looked up, nobody gets it
            content = json.dumps({"content": "harness doctor"})
            return {"robotCode": creds.code, "msgKey": "sampleText", "msgParam": content, "userIds": []}
        return {}  # no card id: refused for the body once the permission is checked

    @property
    def call(self) -> str:
        return f"{self.method} {self.path}"


PROBES: dict[str, Probe] = {
    probe.api: probe
    for probe in (
        Probe("card_streaming", "PUT", "/v1.0/card/streaming"),
        Probe("card_create", "POST", "/v1.0/card/instances/createAndDeliver"),
        Probe("robot_send", "POST", "/v1.0/robot/oToMessages/batchSend"),
    )
}


class Unreachable(Exception):
    """The platform did not answer at all (connection refused, DNS, TLS, timeout)."""


async def _request(
    http: aiohttp.ClientSession, method: str, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Answer:
    try:
        async with http.request(method, url, json=body, headers=headers) as resp:
            raw = await resp.read()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise Unreachable(f"{method} {url}: {type(exc).__name__} {exc}".strip()) from None
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {}
    return Answer(resp.status, parsed if isinstance(parsed, dict) else {})


# --- the platform side -----------------------------------------------------------------------------


async def check_platform(base_url: str, creds: Credentials) -> list[Check]:
    """Every item but the /test round trip, against the platform at `base_url`."""
    base = base_url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        token, access_token = await _token(http, base, creds)
        stream = await _stream(http, base, creds)
        if not access_token:
            later = [item for item in ITEMS if item not in ("token", "stream", "test_round_trip")]
            return [
                token,
                stream,
                *(Check(item, "unknown", "needs an access token (see token issued)") for item in later),
            ]
        answers: dict[str, Answer | str] = {}
        for probe in PROBES.values():
            try:
                answers[probe.api] = await _request(
                    http, probe.method, base + probe.path, probe.body(creds), {TOKEN_HEADER: access_token}
                )
            except Unreachable as exc:
                answers[probe.api] = str(exc)
    return [
        token,
        stream,
        _ip_whitelist(answers),
        *(_scope(probe, answers[api]) for api, probe in PROBES.items()),
        _bot_enabled(answers["robot_send"], creds),
    ]


async def _token(http: aiohttp.ClientSession, base: str, creds: Credentials) -> tuple[Check, str]:
    call = "POST /v1.0/oauth2/accessToken"
    try:
        answer = await _request(
            http,
            "POST",
            base + "/v1.0/oauth2/accessToken",
            {"appKey": creds.client_id, "appSecret": creds.client_secret},
        )
    except Unreachable as exc:
        fix = (
            f"check the platform URL ({base}), DNS, proxy and firewall; DingTalk's open API is https://api.dingtalk.com"
        )
        return Check("token", "fail", f"no answer: {exc}", fix), ""
    token = answer.body.get("accessToken")
    if answer.status == 200 and isinstance(token, str) and token:
        return Check("token", "pass", f"{call} issued a token (expires in {answer.body.get('expireIn', '?')} s)"), token
    if answer.status >= 500:
        return Check("token", "unknown", f"{call}: {answer.text()} (a platform error, not your setup; try again)"), ""
    return Check("token", "fail", f"{call} refused the credentials: {answer.text()}", FIX_CREDENTIALS), ""


async def _stream(http: aiohttp.ClientSession, base: str, creds: Credentials) -> Check:
    """Open a stream connection as a bot does, subscribed to no bot topic (it takes no message from a
    running bot), and close it once the WebSocket is up."""
    body = {
        "clientId": creds.client_id,
        "clientSecret": creds.client_secret,
        "subscriptions": [{"type": "SYSTEM", "topic": "*"}],
        "ua": f"harness-doctor/{__version__}",
        "localIp": "127.0.0.1",
    }
    call = "POST /v1.0/gateway/connections/open"
    try:
        answer = await _request(http, "POST", base + "/v1.0/gateway/connections/open", body)
    except Unreachable as exc:
        return Check("stream", "fail", f"no answer: {exc}", f"check the platform URL ({base}), proxy and firewall")
    endpoint, ticket = answer.body.get("endpoint"), answer.body.get("ticket")
    if answer.status == 401:
        return Check("stream", "fail", f"{call} refused the credentials: {answer.text()}", FIX_CREDENTIALS)
    if answer.status >= 500:
        return Check("stream", "unknown", f"{call}: {answer.text()} (a platform error, not your setup; try again)")
    if answer.status != 200 or not isinstance(endpoint, str) or not isinstance(ticket, str):
        return Check("stream", "fail", f"{call} refused: {answer.text()}", FIX_STREAM_MODE)
    try:
        async with http.ws_connect(endpoint, params={"ticket": ticket}) as ws:
            await ws.close()
    except aiohttp.WSServerHandshakeError as exc:
        return Check(
            "stream",
            "fail",
            f"{call} gave a ticket, but the WebSocket {endpoint} refused it: HTTP {exc.status}",
            "let WebSocket (wss) connections through proxies and firewalls to the endpoint",
        )
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return Check(
            "stream",
            "fail",
            f"{call} gave a ticket, but the WebSocket {endpoint} did not open: {type(exc).__name__} {exc}".strip(),
            "let WebSocket (wss) connections through proxies and firewalls to the endpoint",
        )
    return Check("stream", "pass", f"{call} gave a ticket and the WebSocket opened")


def _ip_whitelist(answers: dict[str, Answer | str]) -> Check:
    replies = [a for a in answers.values() if isinstance(a, Answer)]
    refused = [a for a in replies if a.refused(DingTalkCode.IP_NOT_WHITELISTED)]
    if refused:
        seen = re.search(r"request ip=([0-9A-Fa-f:.]+)", refused[0].text())
        ip = f" ({seen.group(1)}, as the platform saw it)" if seen else ""
        detail = f"the open API refused this machine: {refused[0].text()}"
        return Check("ip_whitelist", "fail", detail, FIX_IP.format(ip=ip))
    passed = [a for a in replies if a.status not in (401, 429) and a.status < 500]
    if passed:
        return Check(
            "ip_whitelist", "pass", f"the open API took {len(passed)} of {len(PROBES)} calls from this machine"
        )
    return Check("ip_whitelist", "unknown", "no open-API call got an answer that tells (see the lines below)")


def _decidable(item: str, answer: Answer | str, call: str) -> Answer | Check:
    """The answer, when it tells about `item`; else the unknown Check saying why it does not."""
    if isinstance(answer, str):
        return Check(item, "unknown", f"{call}: no answer ({answer})")
    if answer.status == 401:
        return Check(item, "unknown", f"{call}: the access token was refused: {answer.text()}")
    if answer.refused(DingTalkCode.IP_NOT_WHITELISTED):
        return Check(item, "unknown", f"{call}: refused by the IP whitelist first (see IP whitelist)")
    return answer


def _scope(probe: Probe, reply: Answer | str) -> Check:
    scope = REQUIRED_SCOPE[probe.api]
    item = f"scope:{scope}"
    answer = _decidable(item, reply, probe.call)
    if isinstance(answer, Check):
        return answer
    if answer.refused(DingTalkCode.PERMISSION_DENIED):
        if scope in answer.required_scopes or not answer.required_scopes:
            return Check(item, "fail", f"{probe.call}: {answer.text()}", FIX_SCOPE.format(scope=scope))
        needed = ", ".join(answer.required_scopes)
        return Check(item, "unknown", f"{probe.call} needs {needed} as well: {answer.text()}")
    if answer.status < 300 or answer.status == 400:
        how = "accepted" if answer.status < 300 else f"refused only for its incomplete body ({answer.text()})"
        return Check(item, "pass", f"{probe.call} got past the permission check: {how}")
    return Check(item, "unknown", f"{probe.call}: {answer.text()}")


def _bot_enabled(reply: Answer | str, creds: Credentials) -> Check:
    call = PROBES["robot_send"].call
    answer = _decidable("bot_enabled", reply, call)
    if isinstance(answer, Check):
        return answer
    if answer.refused(DingTalkCode.ROBOT_NOT_FOUND):
        detail = f"{call} found no robot {creds.code}: {answer.text()}"
        return Check("bot_enabled", "fail", detail, FIX_BOT.format(code=creds.code))
    if answer.refused(DingTalkCode.PERMISSION_DENIED):
        return Check("bot_enabled", "unknown", f"{call} needs qyapi_robot_sendmsg before it looks the robot up")
    if answer.status < 300 or answer.status == 400:
        return Check("bot_enabled", "pass", f"{call} with robotCode {creds.code} was not refused for the robot")
    return Check("bot_enabled", "unknown", f"{call}: {answer.text()}")


# --- the user side ---------------------------------------------------------------------------------


async def round_trip(
    base_url: str,
    app_id: str,
    text: str,
    expect: str,
    timeout_s: float,
    gone: Callable[[], str] = lambda: "",
) -> Check:
    """Send `text` (the smoke command, /test) as an employee on the emulator's user side and wait for a
    final reply containing `expect` (the version information). `gone`: why the bot cannot answer any
    more (it exited), or "" while it may."""
    base = base_url.rstrip("/")
    user_url = base.replace("http", "ws", 1) + "/user"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=REQUEST_TIMEOUT_S)) as http:
        try:
            ws = await http.ws_connect(user_url, params={"userId": USER_ID, "nick": "harness doctor"})
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return Check(
                "test_round_trip",
                "unknown",
                f"no user side at {user_url} ({type(exc).__name__}; a real platform has none): send {text} to the "
                f"bot in a DingTalk chat and expect its version information",
            )
        async with ws:
            client_msg_id = f"doctor-{secrets.token_hex(4)}"
            started = loop.time()
            frame = {
                "type": "message",
                "app": app_id,
                "conversationId": f"{USER_ID}-{client_msg_id}",
                "conversationType": "1",
                "text": text,
                "clientMsgId": client_msg_id,
            }
            await ws.send_json(frame)
            while (left := deadline - loop.time()) > 0:  # bounded by the deadline
                if why := gone():
                    return Check("test_round_trip", "fail", f"no answer to {text}: {why}", "fix what its log says")
                try:
                    msg = await ws.receive(timeout=min(left, 0.5))
                except asyncio.TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return Check("test_round_trip", "unknown", f"the user side closed ({msg.type.name}) before a reply")
                try:
                    got = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(got, dict) or got.get("clientMsgId") != client_msg_id:
                    continue
                if got.get("type") == "error":
                    return Check("test_round_trip", "fail", f"the platform refused {text}: {got.get('error')}")
                if got.get("type") == "reply":
                    return _judge_reply(text, expect, str(got.get("content", "")), loop.time() - started)
        return await _silence(http, base, app_id, text, timeout_s)


async def _silence(http: aiohttp.ClientSession, base: str, app_id: str, text: str, timeout_s: float) -> Check:
    """No reply in time: say whether a bot of the app was connected at all (the emulator's status)."""
    try:
        async with http.get(base + "/admin/status", timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as resp:
            status = await resp.json() if resp.status == 200 else {}
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        status = {}
    connections = status.get("connections") if isinstance(status, dict) else None
    connected = (
        None
        if not isinstance(connections, list)
        else any(c.get("app") == app_id for c in connections if isinstance(c, dict))
    )
    what = f"no reply to {text} within {timeout_s:g} s"
    if connected is False:
        return Check(
            "test_round_trip",
            "fail",
            f"{what}: no bot of app {app_id} had a stream connection open",
            "start the bot with this app's credentials and check its log for why it did not connect",
        )
    return Check(
        "test_round_trip",
        "fail",
        f"{what}" + (": the bot was connected but did not answer" if connected else ""),
        f"make the bot answer {text} (the source design's smoke check): it should reply with its version information",
    )


def _judge_reply(text: str, expect: str, content: str, seconds: float) -> Check:
    shown = json.dumps(content[:160], ensure_ascii=False)
    if expect.lower() in content.lower():
        return Check("test_round_trip", "pass", f"the reply came in {seconds * 1000:.0f} ms: {shown}")
    return Check(
        "test_round_trip",
        "fail",
        f"the reply has no {expect!r} in it: {shown}",
        f"make the bot answer {text} with its version information (the source design's smoke check)",
    )


def exit_code(checks: list[Check]) -> int:
    """1 when a check failed, 3 when none failed but one could not be decided, else 0 (docs/cli.md)."""
    if any(c.status == "fail" for c in checks):
        return int(ExitCode.CHECK_FAILED)
    if any(c.status == "unknown" for c in checks):
        return int(ExitCode.CHECKS_UNDECIDED)
    return int(ExitCode.OK)
