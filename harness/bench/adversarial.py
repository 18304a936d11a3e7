"""An adversarial run on loopback: attacks on the platform emulator and the reference bot while good
messages flow, and what each defence counted (the figures of docs/hardening.md).

Processes: the emulator (`harness platform`, with a connection limit and a header timeout low enough
for a bounded attack to reach them) and the reference bot (`harness bot`). The simulated users and the
attacks run in this process; the login spraying comes from 127.0.0.2 (loopback too), so that the
admin's own address, 127.0.0.1, stays a known-good source. Every loop is bounded; the run takes
about a minute (`--quick`: about 25 s). Exit status 1 if a defence failed: a good message lost,
/healthz or the bot's stream lost under attack, a bad input not refused, the admin locked out.

    python -m harness.bench.adversarial [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from harness.bench.common import Checks
from harness.bench.rig import ProcessRig
from harness.platform.sockets import MAX_HEAD_BYTES

APP = "adversarial-app"
LIMIT = 300  # the emulator's max_connections in this run
HEADER_TIMEOUT_S = 2.0
MAX_PAYLOAD = 64 * 1024
HALF_A_HEAD = b"GET /healthz HTTP/1.1\r\nHost: emulator\r\nX-Slow: "
NESTED = "[" * 30_000 + "]" * 30_000  # 60 KB, under the payload limit, deeper than any parser allows
ATTACKER = "127.0.0.2"  # the login sprayer's source address
TIMEOUT = aiohttp.ClientTimeout(total=30)  # any one request or handshake
RUN_DEADLINE_S = 300.0


@dataclass
class Scale:
    users: int  # good users, each with one message in flight at a time
    half_open: int
    slow_headers: int  # under LIMIT with the good connections: what closes them is the timeout, not the limit
    disconnects: int
    bad_repeats: int
    spray_s: float


FULL = Scale(users=6, half_open=5000, slow_headers=250, disconnects=30, bad_repeats=20, spray_s=10.0)
QUICK = Scale(users=3, half_open=600, slow_headers=100, disconnects=5, bad_repeats=5, spray_s=3.0)


@dataclass
class Report(Checks):
    rows: list[tuple[str, int, str]] = field(default_factory=list)

    def row(self, attack: str, tried: int, outcome: str) -> None:
        self.rows.append((attack, tried, outcome))
        print(f"  {attack:<50} {tried:>6}  {outcome}", flush=True)


@dataclass
class Rig(ProcessRig):
    """The emulator and the reference bot, as processes, with what it takes to talk to them."""

    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    url: str = ""
    bot_url: str = ""

    def start(self) -> None:
        self.url = self.start_platform(
            f"max_connections = {LIMIT}\nheader_timeout_s = {HEADER_TIMEOUT_S}\n"
            f"max_payload_bytes = {MAX_PAYLOAD}\nreply_timeout_s = 30\ndisconnect_grace_s = 1\n",
            [APP],
        )
        self.bot_url = self.start_bot("bot", APP, self.url, self.admin_password)


# --- good traffic ----------------------------------------------------------------------------------
@dataclass
class Good:
    sent: int = 0
    replied: int = 0
    failed: int = 0


async def good_user(
    http: aiohttp.ClientSession, url: str, name: str, stop: asyncio.Event, good: Good, app: str | None = None
) -> None:
    """One employee: a message, its reply, again, until told to stop (each wait bounded). `app`: the
    emulator's app to write to (default its first)."""
    async with http.ws_connect(f"{url}/user?userId={name}&nick={name}") as ws:
        for n in range(100_000):
            if stop.is_set():
                return
            client_msg_id = f"{name}-{n}"
            frame = {"type": "message", "clientMsgId": client_msg_id, "conversationId": f"cid-{name}", "text": "hi"}
            if app is not None:
                frame["app"] = app
            await ws.send_str(json.dumps(frame))
            good.sent += 1
            try:
                await asyncio.wait_for(_reply_to(ws, client_msg_id), 40)
                good.replied += 1
            except (TimeoutError, asyncio.TimeoutError, ConnectionError):
                good.failed += 1
            await asyncio.sleep(0.1)


async def _reply_to(ws: aiohttp.ClientWebSocketResponse, client_msg_id: str) -> None:
    for _ in range(10_000):
        msg = await ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"user socket ended: {msg.type}")
        payload = json.loads(msg.data)
        if payload.get("type") == "reply" and payload.get("clientMsgId") == client_msg_id:
            return


# --- the attacks -------------------------------------------------------------------------------------
async def ledger(http: aiohttp.ClientSession, rig: Rig) -> dict[str, Any]:
    async with http.get(f"{rig.url}/admin/ledger", headers=rig.admin) as r:
        return dict(await r.json())


async def healthz_ms(http: aiohttp.ClientSession, url: str) -> float | None:
    """Milliseconds /healthz took on a fresh connection, None if it did not answer 200 within 5 s."""
    started = time.monotonic()
    try:
        async with http.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as r:
            return (time.monotonic() - started) * 1000 if r.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, asyncio.TimeoutError):
        return None


async def half_open_flood(http: aiohttp.ClientSession, rig: Rig, count: int, report: Report) -> None:
    port = int(rig.url.rsplit(":", 1)[1])
    writers: list[asyncio.StreamWriter] = []
    try:
        for _ in range(count):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(HALF_A_HEAD)
            writers.append(writer)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True), timeout=TIMEOUT) as fresh:
            probes = [await healthz_ms(fresh, rig.url) for _ in range(10)]
        sockets, connections = (await ledger(http, rig))["sockets"], (await ledger(http, rig))["connections"]
    finally:
        for writer in writers:
            writer.transport.abort()
    answered = [p for p in probes if p is not None]
    report.row(
        f"half-open connections (limit {LIMIT})",
        count,
        f"peak open {sockets['peak']} of {sockets['limit']}, {sockets['evicted']} evicted oldest-first, "
        f"{sockets['refused']} refused; /healthz {len(answered)}/10 answered (slowest {max(answered, default=0):.0f} ms); "
        f"bot stream connections up: {connections['current']}",
    )
    report.check(len(answered) == 10, "/healthz did not answer under the connection flood")
    report.check(connections["current"] >= 1, "the bot's stream was lost under the connection flood")
    report.check(sockets["peak"] <= LIMIT + 1, f"open connections went over the limit: {sockets['peak']}")


async def established_flood(http: aiohttp.ClientSession, rig: Rig, extra: int, report: Report) -> None:
    """User sockets (complete handshakes, never evicted) until the limit is full and `extra` more are tried:
    the newcomers are refused and counted, the connections already open (the bot's stream) keep working."""
    for _ in range(100):  # the previous attack's connections are gone (at most 5 s)
        before = (await ledger(http, rig))["sockets"]
        if before["open"] < 50:
            break
        await asyncio.sleep(0.05)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    refused = 0
    squatter = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=TIMEOUT)
    try:
        for i in range(LIMIT - before["open"] + extra):
            try:
                sockets.append(await squatter.ws_connect(f"{rig.url}/user?userId=squatter-{i}"))
            except aiohttp.WSServerHandshakeError as exc:
                refused += exc.status == 503
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True), timeout=TIMEOUT) as fresh:
            healthz = await healthz_ms(fresh, rig.url)
        good_before = (await ledger(http, rig))["messages"]["replied"]
        await asyncio.sleep(2)  # the good users keep talking meanwhile
        after = await ledger(http, rig)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
        await squatter.close()
    report.row(
        f"complete connections beyond the limit ({LIMIT})",
        len(sockets) + refused,
        f"{len(sockets)} held, {refused} refused with 503 ({after['sockets']['refused'] - before['refused']} "
        f"counted); /healthz {'answered' if healthz else 'refused too'}; bot stream up: "
        f"{after['connections']['current']}, {after['messages']['replied'] - good_before} good replies in 2 s",
    )
    report.check(refused == extra, f"{extra} connections over the limit, {refused} refused")
    report.check(after["connections"]["current"] >= 1, "the bot's stream was lost with the limit full")


async def slow_headers(http: aiohttp.ClientSession, rig: Rig, count: int, report: Report) -> None:
    """Connections that trickle a header byte every 0.5 s and never finish it."""
    port = int(rig.url.rsplit(":", 1)[1])
    before = (await ledger(http, rig))["sockets"]["header_timeouts"]

    async def trickle() -> float | None:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\n")
            for _ in range(int(10 * HEADER_TIMEOUT_S)):  # bounded: up to 5x the timeout
                writer.write(b"X")
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1), 0.5) == b"":
                        return time.monotonic() - started
                except (TimeoutError, asyncio.TimeoutError):
                    continue
            return None
        except ConnectionError:
            return time.monotonic() - started
        finally:
            writer.transport.abort()

    closed = [t for t in await asyncio.gather(*(trickle() for _ in range(count))) if t is not None]
    timeouts = (await ledger(http, rig))["sockets"]["header_timeouts"] - before
    report.row(
        f"slow headers (header timeout {HEADER_TIMEOUT_S:g} s)",
        count,
        f"{len(closed)} closed by the emulator ({timeouts} header timeouts counted), "
        f"after {min(closed, default=0):.1f}-{max(closed, default=0):.1f} s",
    )
    report.check(len(closed) == count, f"{count - len(closed)} slow-header connections were not closed")


async def disconnect_storm(http: aiohttp.ClientSession, rig: Rig, times: int, report: Report) -> None:
    opened_before = (await ledger(http, rig))["connections"]["opened"]
    sent = 0
    for _ in range(times):
        async with http.post(f"{rig.url}/admin/actions/disconnect", json={"all": True}, headers=rig.admin) as r:
            sent += int((await r.json())["disconnected"]) if r.status == 200 else 0
        for _ in range(100):  # the bot's new stream is up before the next storm (at most 5 s)
            if (await ledger(http, rig))["connections"]["opened"] >= opened_before + sent:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    reconnected = (await ledger(http, rig))["connections"]["opened"] - opened_before
    report.row("disconnect storm (SYSTEM disconnect to all)", sent, f"the bot reconnected {reconnected} times")
    report.check(reconnected >= sent > 0, f"the bot reconnected {reconnected} times after {sent} disconnects")


async def bad_inputs(http: aiohttp.ClientSession, rig: Rig, repeats: int, report: Report) -> None:
    """Bad frames on both sockets, bad bodies, forged tokens: each must be refused, nothing must break."""
    refused: dict[str, tuple[int, int]] = {}  # what -> (tried, refused as documented)

    def tally(what: str, ok: bool) -> None:
        tried, good = refused.get(what, (0, 0))
        refused[what] = (tried + 1, good + int(ok))

    # the user socket: answered with an `error` each, and the socket stays up
    async with http.ws_connect(f"{rig.url}/user?userId=mallory") as ws:
        for what, frame in (
            ("nested JSON (user socket)", NESTED),
            ("NaN (user socket)", '{"type": "message", "x": NaN}'),
        ):
            for _ in range(repeats):
                await ws.send_str(frame)
                answer = json.loads((await ws.receive(timeout=10)).data)
                tally(what, answer.get("type") == "error")
    for _ in range(max(1, repeats // 5)):
        async with http.ws_connect(f"{rig.url}/user?userId=mallory", max_msg_size=0) as ws:
            await ws.send_str("x" * (MAX_PAYLOAD + 1))
            msg = await ws.receive(timeout=10)
            tally("oversize frame (user socket)", msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009)
    # the bot stream: a second connection with the app's credentials, subscribed to nothing pushed
    body = {"clientId": APP, "clientSecret": rig.secret, "subscriptions": [{"type": "CALLBACK", "topic": "/none"}]}
    before = (await ledger(http, rig))["bad_input"]
    async with http.post(f"{rig.url}/v1.0/gateway/connections/open", json=body) as r:
        opened = await r.json()
    async with http.ws_connect(f"{opened['endpoint']}?ticket={opened['ticket']}", max_msg_size=0) as ws:
        for frame in (NESTED, '{"code": NaN}', "not json", '{"code": 200, "headers": {"messageId": "nobody"}}'):
            for _ in range(repeats):
                await ws.send_str(frame)
        await ws.send_str("x" * (MAX_PAYLOAD + 1))
        msg = await ws.receive(timeout=10)
        tally("oversize frame (bot stream)", msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009)
    after = (await ledger(http, rig))["bad_input"]
    counted = sum(after.values()) - sum(before.values())
    refused["nested JSON, NaN, junk, unknown ACKs (bot stream)"] = (4 * repeats, counted - 1)  # less the oversize
    # HTTP bodies: 400 / 413, never a 500
    for path in ("/v1.0/oauth2/accessToken", "/v1.0/gateway/connections/open", "/admin/faults"):
        for _ in range(repeats):
            async with http.post(
                rig.url + path, data=NESTED, headers={"Content-Type": "application/json", **rig.admin}
            ) as r:
                tally("nested JSON (HTTP bodies)", r.status == 400)
    for literal in ("NaN", "Infinity", "1e308"):
        faults = f'{{"push_delay_s": {literal}}}'
        async with http.post(
            f"{rig.url}/admin/faults", data=faults, headers={"Content-Type": "application/json", **rig.admin}
        ) as r:
            tally("NaN / Infinity / 1e308 (/admin/faults)", r.status == 400)
    async with http.post(f"{rig.url}/v1.0/oauth2/accessToken", data="x" * (MAX_PAYLOAD + 2048)) as r:
        tally("oversize HTTP body", r.status == 413)
    # credentials and tokens
    for _ in range(repeats):
        async with http.post(f"{rig.url}/v1.0/oauth2/accessToken", json={"appKey": APP, "appSecret": "guess"}) as r:
            tally("bad app secret (accessToken)", r.status == 401)
    async with http.post(f"{rig.url}/v1.0/oauth2/accessToken", json={"appKey": APP, "appSecret": rig.secret}) as r:
        token = (await r.json())["accessToken"]
    for forged in _forged_tokens(token):
        headers = {"x-acs-dingtalk-access-token": forged}
        body = {"robotCode": APP, "userIds": ["u"], "msgKey": "sampleText", "msgParam": "{}"}
        async with http.post(f"{rig.url}/v1.0/robot/oToMessages/batchSend", json=body, headers=headers) as r:
            tally("forged access tokens (open API)", r.status == 401)
    for headers in ({}, {"Authorization": "Bearer " + "x" * 32}, {"Authorization": rig.admin_token}):
        for path in ("/admin/ledger", "/admin/faults"):
            async with http.get(rig.url + path, headers=headers) as r:
                tally("missing / wrong admin token (/admin/*)", r.status == 401)
    async with http.post(f"{rig.bot_url}/login", data=NESTED) as r:
        tally("nested JSON (bot /login)", r.status == 400)
    port = int(rig.url.rsplit(":", 1)[1])
    for _ in range(max(1, repeats // 5)):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 1))
        tally("request head over 32 KB", (await reader.read()).startswith(b"HTTP/1.1 431"))
        writer.transport.abort()
    for what, (tried, good) in refused.items():
        report.row(what, tried, f"{good} refused as documented")
        report.check(good == tried, f"{what}: {tried - good} of {tried} not refused as documented")


def _forged_tokens(token: str) -> list[str]:
    """A real access token altered: another subject with the old signature, alg "none", garbage, truncated."""
    head, payload, signature = token.split(".")

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return [
        f"{head}.{b64({**claims, 'sub': 'someone-else'})}.{signature}",
        f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "not-a-token",
        token[:-4],
    ]


async def login_spray(http: aiohttp.ClientSession, rig: Rig, seconds: float, report: Report) -> None:
    """Made-up usernames interleaved with guesses at the admin's, from 127.0.0.2, as fast as it goes;
    meanwhile the admin logs in from 127.0.0.1, where it has logged in before."""
    log = rig.folder / "bot.log"
    login = f"{rig.bot_url}/login"
    async with http.post(login, json={"username": "admin", "password": rig.admin_password}) as r:
        assert r.status == 200, "the admin could not log in before the spraying"
    log_before = log.stat().st_size
    statuses: dict[int, int] = {}
    admin_ok = admin_tries = 0
    attacker = aiohttp.TCPConnector(local_addr=(ATTACKER, 0), limit=20)
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=attacker, timeout=TIMEOUT) as spray:

        async def one(n: int) -> None:
            username = "admin" if n % 2 else f"user{n}"
            async with spray.post(login, json={"username": username, "password": f"guess{n}"}) as r:
                statuses[r.status] = statuses.get(r.status, 0) + 1

        for n in range(0, 1_000_000, 20):  # bounded by the deadline well before the range
            if time.monotonic() > deadline:
                break
            await asyncio.gather(*(one(i) for i in range(n, n + 20)))
            if n % 400 == 0:
                admin_tries += 1
                async with http.post(login, json={"username": "admin", "password": rig.admin_password}) as r:
                    admin_ok += r.status == 200
    tried = sum(statuses.values())
    grown = log.stat().st_size - log_before
    report.row(
        "login spraying against the bot (from 127.0.0.2)",
        tried,
        f"{statuses.get(401, 0)} refused 401, {statuses.get(429, 0)} locked out 429, "
        f"{tried - statuses.get(401, 0) - statuses.get(429, 0)} other; the admin from 127.0.0.1 logged in "
        f"{admin_ok}/{admin_tries}; bot.log grew {grown / 1024:.0f} KB",
    )
    report.check(statuses.get(200, 0) == 0, "a sprayed login succeeded")
    report.check(statuses.get(429, 0) > 0, "the sprayer was never locked out")
    report.check(admin_ok == admin_tries > 0, "the admin was locked out by the sprayer")


# --- the run -----------------------------------------------------------------------------------------
async def attack(rig: Rig, scale: Scale, report: Report) -> Good:
    good, stop = Good(), asyncio.Event()
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        users = [asyncio.create_task(good_user(http, rig.url, f"good-{i}", stop, good)) for i in range(scale.users)]
        try:
            await half_open_flood(http, rig, scale.half_open, report)
            await established_flood(http, rig, 50, report)
            await slow_headers(http, rig, scale.slow_headers, report)
            await disconnect_storm(http, rig, scale.disconnects, report)
            await bad_inputs(http, rig, scale.bad_repeats, report)
            await login_spray(http, rig, scale.spray_s, report)
        finally:
            stop.set()
            await asyncio.gather(*users, return_exceptions=True)
    return good


def main(quick: bool) -> int:
    scale = QUICK if quick else FULL
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = scale.half_open + scale.slow_headers + 512
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY else min(need, hard), hard))
    report = Report()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="harness-adversarial-") as tmp:
        rig = Rig(Path(tmp))
        print(f"adversarial run ({'quick' if quick else 'full'}) on loopback; emulator limit {LIMIT} connections")
        try:
            rig.start()
            good = asyncio.run(asyncio.wait_for(attack(rig, scale, report), RUN_DEADLINE_S))
        finally:
            final = rig.stop()
        platform_log = (rig.folder / "platform.log").stat().st_size
    messages = final.get("messages", {})
    report.row(
        "good messages interleaved",
        good.sent,
        f"{good.replied} replied to the users; ledger: sent {messages.get('sent')}, replied "
        f"{messages.get('replied')}, lost {messages.get('lost')}; platform.log {platform_log / 1024:.0f} KB",
    )
    report.check(messages.get("lost") == 0 and good.replied == good.sent > 0, "good messages were lost")
    print(f"ledger sockets: {json.dumps(final.get('sockets'))}")
    print(f"ledger bad_input: {json.dumps(final.get('bad_input'))}")
    print(f"{len(report.failures)} defence(s) failed; {time.monotonic() - started:.0f} s")
    return 1 if report.failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller attacks, about 25 s")
    sys.exit(main(parser.parse_args().quick))
