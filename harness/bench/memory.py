"""Benchmark: the emulator's memory over many messages answered the way the reference bot answers them
(an AI card created for the message, streamed, finalized, then finished again as the SDK does).

The emulator (`harness platform`) runs as its own process with a short memory window
(`final_memory_s`), a card bot (this file, `--role bot`) answers, and users in this process send
with a fixed number in flight. The emulator's RSS is read with psutil as the messages go; once the
window has passed, what a message leaves behind is the slope of RSS over messages (least squares),
which must be about zero. The ledger's counts are checked against the replies the users received.

    python -m harness.bench.memory [--quick] [--messages N] [--final-memory S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

from harness.bench.common import APP, SECRET, load_average, settle, start_emulator, wait_for_stream
from harness.core import procs

IN_FLIGHT_PER_USER = 8
USERS = 20
SAMPLE_EVERY = 2_000  # messages between RSS samples
REPLY_TIMEOUT_S = 10.0  # the memory window is the longer of this and final_memory_s


# --- the card bot (runs as its own process) ----------------------------------------------------------
async def card_bot(url: str) -> None:
    """ACK every frame; answer each message with createAndDeliver, a finalized stream and a finish PUT."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
        body = {"clientId": APP, "clientSecret": SECRET}
        async with http.post(f"{url}/v1.0/gateway/connections/open", json=body) as resp:
            opened = await resp.json()
        async with http.post(f"{url}/v1.0/oauth2/accessToken", json={"appKey": APP, "appSecret": SECRET}) as resp:
            headers = {"x-acs-dingtalk-access-token": (await resp.json())["accessToken"]}

        async def answer(data: dict) -> None:
            msg_id = data["msgId"]
            space = f"dtv1.card//IM_GROUP.{data['conversationId']}"
            card = {"cardTemplateId": "bench", "outTrackId": msg_id, "openSpaceId": space, "cardData": {}}
            stream = {"outTrackId": msg_id, "guid": msg_id, "key": "content", "content": "an answer " * 8}
            finish = {"outTrackId": msg_id, "cardData": {"cardParamMap": {"flowStatus": "3", "msgContent": "done"}}}
            for method, path, payload in (
                ("POST", "/v1.0/card/instances/createAndDeliver", card),
                ("PUT", "/v1.0/card/streaming", {**stream, "isFull": True, "isFinalize": True}),
                ("PUT", "/v1.0/card/instances", finish),
            ):
                async with http.request(method, f"{url}{path}", json=payload, headers=headers) as resp:
                    await resp.read()

        pending: set[asyncio.Task[None]] = set()
        async with http.ws_connect(f"{opened['endpoint']}?ticket={opened['ticket']}") as ws:
            async for msg in ws:
                frame = json.loads(msg.data)
                ack = {"code": 200, "headers": {"messageId": frame["headers"]["messageId"]}, "message": "OK"}
                await ws.send_str(json.dumps({**ack, "data": "{}"}))
                if frame["type"] == "CALLBACK":
                    task = asyncio.create_task(answer(json.loads(frame["data"])))
                    pending.add(task)
                    task.add_done_callback(pending.discard)


# --- users and the RSS samples ------------------------------------------------------------------------
async def push(url: str, pid: int, messages: int) -> tuple[list[tuple[int, float, float]], int]:
    """Send `messages` with a fixed number in flight; returns (messages answered, seconds, RSS) samples
    and the replies the users received."""
    emulator = psutil.Process(pid)
    replies = 0
    samples: list[tuple[int, float, float]] = []
    start = time.monotonic()
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(f"{url}/user?userId=u{i}&accepted=0") for i in range(USERS)]
        slots = asyncio.Semaphore(IN_FLIGHT_PER_USER * USERS)
        done = asyncio.Event()

        async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal replies
            async for msg in ws:
                if json.loads(msg.data)["type"] == "reply":
                    replies += 1
                    slots.release()
                    if replies % SAMPLE_EVERY == 0:
                        samples.append((replies, time.monotonic() - start, emulator.memory_info().rss))
                    if replies == messages:
                        done.set()

        readers = [asyncio.create_task(read(ws)) for ws in sockets]
        samples.append((0, 0.0, emulator.memory_info().rss))
        for n in range(messages):
            await slots.acquire()
            frame = {"type": "message", "clientMsgId": f"m{n}", "conversationId": f"grp-{n % 50}"}
            await sockets[n % USERS].send_str(json.dumps({**frame, "conversationType": "2", "text": "question"}))
        try:
            await asyncio.wait_for(done.wait(), timeout=120)
        except TimeoutError:
            print(f"  only {replies} of {messages} replies came within 120 s of the last send")
        for task in readers:
            task.cancel()
        for ws in sockets:
            await ws.close()
    return samples, replies


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else float("nan")


async def main(messages: int, final_memory_s: float) -> int:
    print(f"{messages:,} messages, memory window {final_memory_s:g} s; {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "emulator.toml")
        config.write_text(f"[settings]\nfinal_memory_s = {final_memory_s}\n" if final_memory_s else "")
        emulator, urls = start_emulator(Path(tmp), REPLY_TIMEOUT_S, extra_args=["--config", str(config)])
        try:
            url = urls["http"]
            bot = procs.start(
                [sys.executable, "-m", "harness.bench.memory", "--role", "bot", "--url", url], Path(tmp, "bot.log")
            )
            try:
                wait_for_stream(url)
                samples, replies = await push(url, emulator.pid, messages)
                counts = settle(url)["messages"]
            finally:
                procs.stop(bot, grace=30)
        finally:
            procs.stop(emulator, grace=30)
    steady = [(n, rss) for n, t, rss in samples if t > 2 * max(final_memory_s, REPLY_TIMEOUT_S)] or [
        (n, rss) for n, _, rss in samples
    ]
    first, last = samples[0], samples[-1]
    seconds = last[1]
    print(f"  {replies:,} replies in {seconds:.0f} s ({replies / seconds:.0f} msg/s)")
    print(f"  emulator RSS: start {first[2] / 2**20:.1f} MB, end {last[2] / 2**20:.1f} MB")
    per_message = slope([(float(n), rss) for n, rss in steady])
    print(
        f"  after the window ({steady[0][0]:,} -> {steady[-1][0]:,} messages, {len(steady)} samples): "
        f"RSS {steady[0][1] / 2**20:.1f} -> {steady[-1][1] / 2**20:.1f} MB, "
        f"slope {per_message:.1f} bytes per message ({per_message * 50 * 3600 / 2**20:.1f} MB per hour at 50 msg/s)"
    )
    exact = counts["sent"] == messages == counts["replied"] == replies and counts["lost"] == 0
    print(
        f"  ledger: sent {counts['sent']:,}, replied {counts['replied']:,}, lost {counts['lost']}, "
        f"duplicate {counts['duplicate_replies']}, late {counts['late_replies']}, "
        f"forgotten {counts.get('forgotten_replies', 'n/a')}; users got {replies:,}: {'exact' if exact else 'MISMATCH'}"
    )
    print(f"done; {load_average()}")
    return 0 if exact else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 messages")
    parser.add_argument("--messages", type=int, default=200_000, help="messages to push (default 200,000)")
    parser.add_argument(
        "--final-memory", type=float, default=10.0, help="the emulator's final_memory_s (0: its default)"
    )
    parser.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)  # one long run is the figure
    parser.add_argument("--role", choices=["bench", "bot"], default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "bot":
        asyncio.run(card_bot(args.url))
    else:
        sys.exit(asyncio.run(main(20_000 if args.quick else args.messages, args.final_memory)))
