"""Chaos at scale on loopback: forced disconnects, hung connections and fuzzed frames while good messages
flow, and whether every good message was answered (the figures of docs/benchmarks/chaos.md).

Processes: the emulator (`harness platform`, two apps) and two reference bots (`harness bot`, heartbeat
2 s, reconnect backoff 0.05 - 0.5 s). The first bot talks to the emulator directly and takes the
disconnects and the hangs; the second talks to it through a relay in this process that feeds it fuzzed
platform frames between the real ones. Simulated users of both apps send a message, wait for its reply,
and send again, for the whole run.

1. Forced disconnects, SYSTEM disconnect frames and abrupt closes (no close frame) alternately, each
   once the bot's new connection is up.
2. Hung connections: the emulator stops reading and writing the bot's socket and leaves it open; the
   bot's heartbeat must find it within its bound (1.5 heartbeat intervals, then the reconnect delay).
3. Fuzzed frames (harness/bench/fuzz.py, hypothesis): on a stream connection to the emulator (each
   counted as bad input, the connection stays up), on a user socket (each answered `accepted` or
   `error`, the accepted ones replied), and into the second bot's stream (no crash, no reconnect, a 400
   ACK where the frame names a messageId).

Then the ledger: sent, replied, lost (must be 0), duplicate replies (explained by a redelivery, or not;
unexplained must be 0). Exit status 1 if any check failed. `--quick` is the scaled-down version the
test suite runs (about 30 s).

    python -m harness.bench.chaos [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from harness.bench import fuzz
from harness.bench.adversarial import Good, good_user
from harness.bench.common import Checks, load_average
from harness.bench.rig import ProcessRig
from harness.core import procs

APP, FUZZ_APP = "chaos-app", "chaos-fuzz-app"
HEARTBEAT_S = 2.0
RECONNECT = {"initial_delay_seconds": 0.05, "max_delay_seconds": 0.5, "jitter": 0.2, "stable_after_seconds": 1.0}
# the bot finds a hang after 1.5 heartbeat intervals (stream.py), then waits its reconnect delay
HANG_BOUND_S = 1.5 * HEARTBEAT_S + RECONNECT["max_delay_seconds"] * (1 + RECONNECT["jitter"]) + 0.5
PING_INTERVAL_S, PING_MISS_LIMIT = 5.0, 3  # the emulator's own dead-peer check: 15 s, well after the bot's
SEED = 20_240_613
TIMEOUT = aiohttp.ClientTimeout(total=30)
STEP_DEADLINE_S = 30.0  # any one wait: a reconnect, the answers to a batch of frames


@dataclass
class Scale:
    disconnects: int
    hangs: int
    frames: int  # per fuzzed socket
    corpus: int  # frames drawn by hypothesis per socket (the rest are mutations of them)
    users: int  # per app


FULL = Scale(disconnects=1000, hangs=10, frames=100_000, corpus=2000, users=4)
QUICK = Scale(disconnects=30, hangs=1, frames=1000, corpus=100, users=2)


@dataclass
class Outcome(Checks):
    rows: list[str] = field(default_factory=list)
    fuzzed: int = 0

    def row(self, what: str, count: int, detail: str) -> None:
        line = f"  {what:<38} {count:>7}  {detail}"
        self.rows.append(line)
        print(line, flush=True)


# --- the processes -----------------------------------------------------------------------------------
@dataclass
class Rig(ProcessRig):
    url: str = ""
    bot_url: str = ""  # the bot that takes the disconnects and hangs
    fuzz_bot_url: str = ""

    def start_emulator(self) -> None:
        self.url = self.start_platform(
            "ack_timeout_s = 2\nreply_timeout_s = 60\ndisconnect_grace_s = 1\n"
            f"ping_interval_s = {PING_INTERVAL_S}\nping_miss_limit = {PING_MISS_LIMIT}\nredeliver_max = 10\n",
            [APP, FUZZ_APP],
        )

    def start_chaos_bot(self, name: str, app: str, platform_url: str) -> str:
        """A reference bot on `app` through `platform_url`, with the bench's heartbeat and reconnect
        settings; its admin URL."""
        reconnect = [arg for key, value in RECONNECT.items() for arg in ("--set", f"reconnect.{key}={value}")]
        heartbeat = ("--heartbeat-seconds", f"{HEARTBEAT_S:g}", *reconnect)
        return self.start_bot(name, app, platform_url, secrets.token_urlsafe(16), heartbeat)


# --- the fuzzing relay in front of the second bot -----------------------------------------------------
class FuzzRelay:
    """Stands between a bot and the emulator: HTTP is passed through, connections/open hands out the
    relay's stream endpoint, and the stream is relayed both ways, with fuzzed frames fed to the bot on
    demand. The bot's ACKs to frames the emulator did not send are kept here and tallied by code."""

    def __init__(self, upstream: str, http: aiohttp.ClientSession) -> None:
        self.upstream = upstream
        self.http = http
        self.endpoints: dict[str, str] = {}  # ticket -> the emulator's stream endpoint
        self.from_platform: set[str] = set()  # messageIds the emulator sent and the bot has not ACKed yet
        self.bot_streams: list[web.WebSocketResponse] = []
        self.acks: Counter[str] = Counter()  # the bot's ACK codes to fuzzed frames
        self.sentinel = asyncio.Event()
        self.streams_opened = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1.0/gateway/connections/open", self._open)
        app.router.add_get("/relay", self._stream)
        app.router.add_route("*", "/{tail:.*}", self._pass)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = procs.free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        for ws in list(self.bot_streams):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _pass(self, request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self.http.request(
            request.method, self.upstream + request.rel_url.path_qs, data=await request.read(), headers=headers
        ) as r:
            body = await r.read()
            return web.Response(status=r.status, body=body, content_type=r.content_type)

    async def _open(self, request: web.Request) -> web.Response:
        async with self.http.post(
            f"{self.upstream}/v1.0/gateway/connections/open", data=await request.read(), headers=request.headers
        ) as r:
            body = await r.json()
            if r.status == 200:
                self.endpoints[body["ticket"]] = body["endpoint"]
                body["endpoint"] = f"{self.url.replace('http', 'ws', 1)}/relay"
            return web.json_response(body, status=r.status)

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        ticket = request.query.get("ticket", "")
        bot = web.WebSocketResponse()
        await bot.prepare(request)
        async with self.http.ws_connect(f"{self.endpoints.pop(ticket)}?ticket={ticket}") as platform:
            self.bot_streams.append(bot)
            self.streams_opened += 1
            down = asyncio.create_task(self._to_bot(platform, bot))
            try:
                async for msg in bot:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        await self._from_bot(platform, msg.data)
            except ConnectionError:  # the bot went (a pong to a closing socket): it reconnects, counted
                pass
            finally:
                self.bot_streams.remove(bot)
                down.cancel()
        return bot

    async def _to_bot(self, platform: aiohttp.ClientWebSocketResponse, bot: web.WebSocketResponse) -> None:
        async for msg in platform:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.from_platform.add(json.loads(msg.data)["headers"]["messageId"])
                await bot.send_str(msg.data)
        await bot.close()

    async def _from_bot(self, platform: aiohttp.ClientWebSocketResponse, text: str) -> None:
        ack = json.loads(text)
        message_id = ack["headers"]["messageId"]
        if message_id in self.from_platform:
            self.from_platform.discard(message_id)
            await platform.send_str(text)
        elif message_id == SENTINEL_ID:
            self.sentinel.set()
        else:
            self.acks[str(ack.get("code"))] += 1

    async def feed(self, frames: list[str | bytes], batch: int = 500) -> None:
        """Send fuzzed frames to the bot's live stream, a batch at a time, each followed by a ping whose
        ACK says the bot has read the batch: the bot never falls so far behind that it misses the
        emulator's pings (which close a connection after PING_MISS_LIMIT unanswered intervals)."""
        bot = self.bot_streams[-1]
        for start in range(0, len(frames), batch):
            self.sentinel.clear()
            for frame in frames[start : start + batch]:
                await send(bot, frame)
            await bot.send_str(
                json.dumps(
                    {
                        "specVersion": "1.0",
                        "type": "SYSTEM",
                        "headers": {"messageId": SENTINEL_ID, "topic": "ping", "contentType": "application/json"},
                        "data": json.dumps({"opaque": "sentinel"}),
                    }
                )
            )
            await asyncio.wait_for(self.sentinel.wait(), STEP_DEADLINE_S)


SENTINEL_ID = "chaos-sentinel"


# --- helpers -----------------------------------------------------------------------------------------
async def send(ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, frame: str | bytes) -> None:
    """One fuzzed frame, then a turn for the other tasks: a send that needs no drain does not yield, and
    a loop of them would starve the relay and the users (and the bots' heartbeats with them)."""
    await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
    await asyncio.sleep(0)


async def ledger(http: aiohttp.ClientSession, rig: Rig) -> dict[str, Any]:
    async with http.get(f"{rig.url}/admin/ledger", headers=rig.admin) as r:
        return dict(await r.json())


async def routable(http: aiohttp.ClientSession, rig: Rig, app: str) -> set[str]:
    async with http.get(f"{rig.url}/admin/status", headers=rig.admin) as r:
        status = await r.json()
    return {c["id"] for c in status["connections"] if c["app"] == app and c["routable"]}


async def new_connection(http: aiohttp.ClientSession, rig: Rig, app: str, old: set[str]) -> set[str]:
    """Wait (bounded) until the app has a routable connection not in `old`; the routable ones."""
    deadline = time.monotonic() + STEP_DEADLINE_S
    while time.monotonic() < deadline:
        now = await routable(http, rig, app)
        if now - old:
            return now
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no new stream connection for {app} within {STEP_DEADLINE_S:g} s")


async def bot_counter(http: aiohttp.ClientSession, bot_url: str, name: str) -> Counter[str]:
    """A labelled counter of a bot's /metrics, by its one label's value."""
    async with http.get(f"{bot_url}/metrics") as r:
        text = await r.text()
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_total":
                counts[next(iter(sample.labels.values()), "")] += int(sample.value)
    return counts


def ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"


# --- the phases --------------------------------------------------------------------------------------
async def disconnects(http: aiohttp.ClientSession, rig: Rig, count: int, out: Outcome) -> None:
    took: dict[str, list[float]] = {"system": [], "abrupt": []}
    live = await new_connection(http, rig, APP, set())
    for n in range(count):
        kind = "system" if n % 2 == 0 else "abrupt"
        started = time.monotonic()
        async with http.post(
            f"{rig.url}/admin/actions/disconnect", json={"app": APP, "kind": kind}, headers=rig.admin
        ) as r:
            ended = (await r.json())["disconnected"]
        try:
            live = await new_connection(http, rig, APP, live)
        except TimeoutError as exc:
            out.check(False, f"disconnect {n + 1} ({kind}): {exc}")
            return
        out.check(ended >= 1, f"disconnect {n + 1} ({kind}) found no connection to end")
        took[kind].append(time.monotonic() - started)
    survived = len(took["system"]) + len(took["abrupt"])
    out.row(
        "forced disconnects survived",
        survived,
        f"{len(took['system'])} SYSTEM disconnect ({ms(took['system'])} to the new stream), "
        f"{len(took['abrupt'])} abrupt close ({ms(took['abrupt'])})",
    )


async def hangs(http: aiohttp.ClientSession, rig: Rig, count: int, out: Outcome) -> None:
    before = (await bot_counter(http, rig.bot_url, "chatbot_stream_reconnects"))["heartbeat_timeout"]
    found: list[float] = []
    live = await routable(http, rig, APP)
    for n in range(count):
        started = time.monotonic()
        async with http.post(
            f"{rig.url}/admin/actions/disconnect", json={"app": APP, "kind": "hang"}, headers=rig.admin
        ) as r:
            out.check((await r.json())["disconnected"] >= 1, f"hang {n + 1} found no connection")
        try:
            live = await new_connection(http, rig, APP, live)
        except TimeoutError as exc:
            out.check(False, f"hang {n + 1}: {exc}")
            return
        found.append(time.monotonic() - started)
    by_heartbeat = (await bot_counter(http, rig.bot_url, "chatbot_stream_reconnects"))["heartbeat_timeout"] - before
    out.row(
        "hung connections found by the bot",
        len(found),
        f"new stream after {min(found):.2f} - {max(found):.2f} s (bound {HANG_BOUND_S:.2f} s: heartbeat "
        f"{HEARTBEAT_S:g} s x 1.5 + reconnect delay); reconnects counted as heartbeat_timeout: {by_heartbeat}",
    )
    out.check(max(found) <= HANG_BOUND_S, f"a hang took {max(found):.2f} s to find, over {HANG_BOUND_S:.2f} s")
    out.check(by_heartbeat >= len(found), f"{len(found)} hangs, {by_heartbeat} heartbeat timeouts")


async def fuzz_emulator_stream(http: aiohttp.ClientSession, rig: Rig, frames: list[str | bytes], out: Outcome) -> None:
    """A second stream connection of the app (subscribed to nothing pushed) sends the frames; it answers
    the emulator's pings, so only bad frames could cost it the connection."""
    body = {"clientId": APP, "clientSecret": rig.secret, "subscriptions": [{"type": "CALLBACK", "topic": "/none"}]}
    before = (await ledger(http, rig))["bad_input"]
    async with http.post(f"{rig.url}/v1.0/gateway/connections/open", json=body) as r:
        opened = await r.json()
    async with http.ws_connect(f"{opened['endpoint']}?ticket={opened['ticket']}") as ws:

        async def answer_pings() -> None:
            async for msg in ws:
                frame = json.loads(msg.data)
                ack = {"code": 200, "headers": {"messageId": frame["headers"]["messageId"]}, "data": frame["data"]}
                await ws.send_str(json.dumps(ack))

        pinger = asyncio.create_task(answer_pings())
        for frame in frames:
            await send(ws, frame)
        deadline = time.monotonic() + STEP_DEADLINE_S + len(frames) / 1000
        counted: dict[str, int] = {}
        while time.monotonic() < deadline:
            after = (await ledger(http, rig))["bad_input"]
            counted = {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}
            if sum(counted.values()) >= len(frames):
                break
            await asyncio.sleep(0.05)
        up = not ws.closed
        pinger.cancel()
    out.fuzzed += len(frames)
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counted.items()))
    out.row("fuzzed frames, emulator stream socket", len(frames), f"counted as bad input: {detail}; stayed up: {up}")
    out.check(sum(counted.values()) == len(frames), f"{len(frames)} fuzzed frames, {sum(counted.values())} counted")
    out.check(up, "the emulator closed a stream connection over fuzzed frames")


async def fuzz_user_socket(http: aiohttp.ClientSession, rig: Rig, frames: list[str | bytes], out: Outcome) -> None:
    """Each frame is answered at once, `accepted` (then replied) or `error`; at most `window` frames are
    open (unanswered, or accepted and not replied), so the bot is never asked for more than it can do
    within the reply timeout."""
    window = 200
    before = (await ledger(http, rig))["bad_input"].get("bad_user_frame", 0)
    answers: Counter[str] = Counter()
    changed = asyncio.Event()
    async with http.ws_connect(f"{rig.url}/user?userId=fuzzer") as ws:

        async def read() -> None:
            async for msg in ws:
                answers[json.loads(msg.data).get("type", "?")] += 1
                changed.set()

        reader = asyncio.create_task(read())

        async def until(done: Any) -> bool:
            deadline = time.monotonic() + STEP_DEADLINE_S
            while not done() and time.monotonic() < deadline and not reader.done():
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), 1.0)
                except asyncio.TimeoutError:
                    continue
            return bool(done())

        def open_(sent: int) -> int:  # frames not answered yet, or accepted and not replied yet
            return sent - answers["error"] - min(answers["accepted"], answers["reply"])

        for sent, frame in enumerate(frames, 1):
            await send(ws, frame)
            if open_(sent) >= window and not await until(lambda s=sent: open_(s) < window):
                break
        all_answered = await until(lambda: answers["accepted"] + answers["error"] == len(frames))
        all_replied = await until(lambda: answers["reply"] >= answers["accepted"])
        up = not ws.closed
        reader.cancel()
    counted = (await ledger(http, rig))["bad_input"].get("bad_user_frame", 0) - before
    out.fuzzed += len(frames)
    out.row(
        "fuzzed frames, emulator user socket",
        len(frames),
        f"{answers['error']} answered `error` ({counted} counted bad_user_frame), {answers['accepted']} accepted "
        f"as messages and {answers['reply']} of them replied; stayed up: {up}",
    )
    out.check(all_answered, f"{len(frames)} user frames, {answers['accepted'] + answers['error']} answered")
    out.check(all_replied, f"{answers['accepted']} fuzzed messages accepted, {answers['reply']} replied")
    out.check(counted == answers["error"], f"{answers['error']} errors, {counted} counted as bad_user_frame")
    out.check(up, "the emulator closed a user socket over fuzzed frames")


async def fuzz_bot_stream(
    http: aiohttp.ClientSession, rig: Rig, relay: FuzzRelay, frames: list[str | bytes], out: Outcome
) -> None:
    reconnects = sum((await bot_counter(http, rig.fuzz_bot_url, "chatbot_stream_reconnects")).values())
    invalid = (await bot_counter(http, rig.fuzz_bot_url, "chatbot_messages_received"))["INVALID"]
    streams = relay.streams_opened
    try:
        await relay.feed(frames)
        read_all = True
    except (asyncio.TimeoutError, ConnectionError, RuntimeError):  # no ACK to a batch's ping, or the stream went
        read_all = False
    reconnected = sum((await bot_counter(http, rig.fuzz_bot_url, "chatbot_stream_reconnects")).values()) - reconnects
    refused = (await bot_counter(http, rig.fuzz_bot_url, "chatbot_messages_received"))["INVALID"] - invalid
    out.fuzzed += len(frames)
    codes = ", ".join(f"{code} x{n}" for code, n in sorted(relay.acks.items()))
    out.row(
        "fuzzed frames, reference bot stream",
        len(frames),
        f"read to the end: {read_all}; {refused} counted invalid; ACKs to them: {codes or 'none'} "
        f"(the rest name no messageId); reconnects {reconnected}, new streams {relay.streams_opened - streams}",
    )
    out.check(read_all, "the bot did not read every fuzzed frame (no ACK to the ping after them)")
    out.check(relay.acks["500"] == 0, f"the bot's handler crashed on {relay.acks['500']} fuzzed frames (ACK 500)")
    out.check(reconnected == 0, f"the bot's stream reconnected {reconnected} times over fuzzed frames")


# --- the run -----------------------------------------------------------------------------------------
async def chaos(rig: Rig, scale: Scale, out: Outcome) -> Good:
    good, stop = Good(), asyncio.Event()
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        relay = FuzzRelay(rig.url, http)
        await relay.start()
        try:
            rig.fuzz_bot_url = await asyncio.to_thread(rig.start_chaos_bot, "fuzz-bot", FUZZ_APP, relay.url)
            users = [
                asyncio.create_task(good_user(http, rig.url, f"good-{app}-{i}", stop, good, app))
                for app in (APP, FUZZ_APP)
                for i in range(scale.users)
            ]
            try:
                frames = await asyncio.to_thread(fuzz.ack_frames, scale.frames, SEED, scale.corpus)
                await fuzz_emulator_stream(http, rig, frames, out)
                frames = await asyncio.to_thread(fuzz.user_frames, scale.frames, SEED + 1, scale.corpus)
                await fuzz_user_socket(http, rig, frames, out)
                frames = await asyncio.to_thread(fuzz.push_frames, scale.frames, SEED + 2, scale.corpus)
                await fuzz_bot_stream(http, rig, relay, frames, out)
                del frames
                await disconnects(http, rig, scale.disconnects, out)
                await hangs(http, rig, scale.hangs, out)
            finally:
                stop.set()
                await asyncio.gather(*users, return_exceptions=True)
        finally:
            await relay.stop()
    return good


def main(quick: bool) -> int:
    scale = QUICK if quick else FULL
    out = Outcome()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="harness-chaos-") as tmp:
        rig = Rig(Path(tmp))
        print(
            f"chaos run ({'quick' if quick else 'full'}) on loopback: emulator + reference bots (heartbeat "
            f"{HEARTBEAT_S:g} s), {scale.users} users per app; {load_average()}",
            flush=True,
        )
        try:
            rig.start_emulator()
            rig.bot_url = rig.start_chaos_bot("bot", APP, rig.url)
            good = asyncio.run(chaos(rig, scale, out))
        finally:
            final = rig.stop()
    messages = final.get("messages", {})
    duplicates = messages.get("duplicate_replies", 0)
    explained = messages.get("duplicate_replies_redelivered", 0)
    out.row(
        "good messages interleaved",
        good.sent,
        f"{good.replied} replied to the users, {good.failed} not; ledger: sent {messages.get('sent')}, replied "
        f"{messages.get('replied')}, lost {messages.get('lost')}, redelivered {messages.get('redelivered')}",
    )
    out.row("duplicate replies", duplicates, f"{explained} explained by a redelivery, {duplicates - explained} not")
    out.row("frames fuzzed", out.fuzzed, "on the emulator's stream and user sockets and the bot's stream")
    out.check(messages.get("lost") == 0 and good.failed == 0 and good.replied == good.sent > 0, "messages were lost")
    out.check(duplicates == explained, f"{duplicates - explained} duplicate replies no redelivery explains")
    print(f"{load_average()}; {len(out.failures)} check(s) failed; {time.monotonic() - started:.0f} s", flush=True)
    return 1 if out.failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the scaled-down version (about 30 s)")
    sys.exit(main(parser.parse_args().quick))
