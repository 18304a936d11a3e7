"""Reference bot throughput and latency, against a raw `websockets` echo server measured in the same run.

1. Baseline: a `websockets` echo server process; round trips per CPU-second of that process.
2. Saturation: `harness platform` + the reference bot (engine at zero cost, plain-text replies) as
   separate processes, simulated users on the emulator's user WebSocket keeping a window of messages
   in flight; messages answered per CPU-second of the bot process.
3. Half load: the same, offered open-loop at half the 2,000 msg/s goal; the bot's own processing
   latency (its chatbot_message_processing_seconds histogram) and the user-side reply latency.

Usage: python -m harness.bench.bot [--quick]   (or `harness bench bot`). Figures: docs/benchmarks/bot.md
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil
from hdrh.histogram import HdrHistogram
from prometheus_client.parser import text_string_to_metric_families

from harness.bench.common import DEFAULT_REPEAT, load_average, settle, spread
from harness.core.procs import child, cpu_seconds
from harness.core.readiness import wait_ready_file

APP, SECRET = "bench-app", "bench-secret"
GOAL_PER_CORE = 2000  # messages per second on one core; latency is checked at half of it
ECHO_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve
async def echo(ws):
    async for message in ws:
        await ws.send(message)
async def main():
    async with serve(echo, "127.0.0.1", 0, compression=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
"""
# About the size of a robot-message CALLBACK frame, so both sides move similar bytes.
ECHO_PAYLOAD = json.dumps(
    {"specVersion": "1.0", "type": "CALLBACK", "headers": {"messageId": "x" * 32}, "data": "y" * 900}
)


# --- baseline -------------------------------------------------------------------------------------


async def drive_echo(port: int, total: int, connections: int) -> float:
    left = itertools.count()

    async def one(http: aiohttp.ClientSession) -> None:
        async with http.ws_connect(f"ws://127.0.0.1:{port}/") as ws:
            while next(left) < total:
                await ws.send_str(ECHO_PAYLOAD)
                await ws.receive()

    start = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(one(http) for _ in range(connections)))
    return time.perf_counter() - start


def measure_echo(total: int, tmp: Path) -> dict[str, float]:
    with child([sys.executable, "-c", ECHO_SERVER], tmp / "echo.log", stdout=subprocess.PIPE, text=True) as proc:
        port = int(proc.stdout.readline())
        server = psutil.Process(proc.pid)
        asyncio.run(drive_echo(port, total // 10, 50))  # warm up
        before = cpu_seconds(server)
        wall = asyncio.run(drive_echo(port, total, 50))
        cpu = cpu_seconds(server) - before
    return {"messages": total, "wall_s": wall, "cpu_s": cpu, "per_cpu_s": total / cpu, "per_wall_s": total / wall}


# --- the bot ----------------------------------------------------------------------------------------


class Users:
    """Simulated employees on the emulator's user side; each reply is matched to its send."""

    def __init__(self, url: str, count: int) -> None:
        self.url, self.count = url, count
        self.sent_at: dict[str, float] = {}
        self.latency = HdrHistogram(1, 60_000_000, 3)  # microseconds
        self.replied = 0
        self._ids = itertools.count()
        self._budget = 0

    async def closed_loop(self, total: int, window: int) -> None:
        """Each user keeps `window` messages in flight until `total` have been sent."""
        self._budget = total
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(self._closed_user(http, n, window) for n in range(self.count)))

    async def _closed_user(self, http: aiohttp.ClientSession, n: int, window: int) -> None:
        outstanding = 0
        async with http.ws_connect(f"{self.url}/user?userId=bench{n}") as ws:
            while True:
                while outstanding < window and self._budget > 0:
                    self._budget -= 1
                    outstanding += 1
                    await self._send(ws, n, time.perf_counter())
                if outstanding == 0:
                    return
                msg = await asyncio.wait_for(ws.receive(), 60)
                if self._on_reply(msg.data):
                    outstanding -= 1

    async def open_loop(self, rate: float, duration: float) -> None:
        async with aiohttp.ClientSession() as http:
            sockets = [await http.ws_connect(f"{self.url}/user?userId=bench{n}") for n in range(self.count)]
            readers = [asyncio.create_task(self._read(ws)) for ws in sockets]
            start = time.perf_counter()
            for i in range(int(rate * duration)):
                intended = start + i / rate
                delay = intended - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._send(sockets[i % self.count], i % self.count, intended)
            deadline = time.perf_counter() + 30
            while self.sent_at and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            for task in readers:
                task.cancel()
            for ws in sockets:
                await ws.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            self._on_reply(msg.data)

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, n: int, intended: float) -> None:
        client_msg_id = f"b{next(self._ids)}"
        self.sent_at[client_msg_id] = intended
        await ws.send_str(
            json.dumps(
                {
                    "type": "message",
                    "clientMsgId": client_msg_id,
                    "conversationId": f"c{n}",
                    "conversationType": "1",
                    "text": "how do I reset my password?",
                }
            )
        )

    def _on_reply(self, text: str) -> bool:
        frame = json.loads(text)
        if frame.get("type") != "reply":
            return False
        sent = self.sent_at.pop(frame["clientMsgId"], None)
        if sent is not None:
            self.replied += 1
            self.latency.record_value(max(1, int((time.perf_counter() - sent) * 1e6)))
        return True


async def bot_histogram(admin_url: str) -> dict[float, float]:
    async with aiohttp.ClientSession() as http, http.get(f"{admin_url}/metrics") as resp:
        text = await resp.text()
    for family in text_string_to_metric_families(text):
        if family.name == "chatbot_message_processing_seconds":
            return {float(s.labels["le"]): s.value for s in family.samples if s.name.endswith("_bucket")}
    raise RuntimeError("the bot exports no chatbot_message_processing_seconds")


def share_within(before: dict[float, float], after: dict[float, float], bound: float) -> float:
    total = after[float("inf")] - before[float("inf")]
    return (after[bound] - before[bound]) / total if total else 0.0


PLAIN_TEXT = ["--plain-text-max-tokens", "8"]  # one sessionWebhook call per message
CARD = ["--plain-text-max-tokens", "0", "--chunk-tokens", "8"]  # card create, one chunk, finalize: 3 calls


def measure_bot(total: int, half_duration: float, workdir: Path, reply_flags: list[str]) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(dir=workdir))  # fresh ready files for each pair of processes
    env = {**os.environ, "HARNESS_APP_SECRET": SECRET, "DINGTALK_CLIENT_SECRET": SECRET}
    platform_cmd = [
        sys.executable,
        "-m",
        "harness",
        "platform",
        "--app",
        APP,
        "--ready-file",
        str(tmp / "p.ready"),
        "--reply-timeout",
        "120",
    ]
    with child(platform_cmd, tmp / "platform.log", env=env) as platform:
        url = wait_ready_file(tmp / "p.ready", platform, timeout=60)["http"]
        bot_cmd = [
            sys.executable,
            "-m",
            "reference_bot",
            "--platform",
            url,
            "--client-id",
            APP,
            "--ready-file",
            str(tmp / "b.ready"),
            "--log-file",
            str(tmp / "bot.log"),
            "--first-token-seconds",
            "0",
            "--tokens-per-second",
            "0",
            "--cpu-ms-per-token",
            "0",
            "--reply-tokens",
            "8",
            *reply_flags,
        ]
        with child(bot_cmd, tmp / "bot.out", env=env) as bot:
            admin = wait_ready_file(tmp / "b.ready", bot, timeout=60)["http"]
            proc = psutil.Process(bot.pid)
            emulator = psutil.Process(platform.pid)
            time.sleep(0.5)  # let the stream connect
            asyncio.run(Users(url, 20).closed_loop(total // 10, 4))  # warm up
            before, emulator_before = cpu_seconds(proc), cpu_seconds(emulator)
            users = Users(url, 20)
            start = time.perf_counter()
            asyncio.run(users.closed_loop(total, 4))
            wall = time.perf_counter() - start
            cpu = cpu_seconds(proc) - before
            emulator_cpu = cpu_seconds(emulator) - emulator_before
            saturated = users.replied / wall
            messages = settle(url)["messages"]
            result = {
                "exact": messages["replied"] == users.replied + total // 10 == messages["sent"],
                "messages": users.replied,
                "wall_s": wall,
                "cpu_s": cpu,
                "per_cpu_s": users.replied / cpu,
                "per_wall_s": saturated,
                "emulator_per_cpu_s": users.replied / emulator_cpu,
            }
            if half_duration <= 0:
                return result
            half_rate = min(GOAL_PER_CORE / 2, saturated / 2)  # what this machine can offer, at most the goal
            hist_before = asyncio.run(bot_histogram(admin))
            paced = Users(url, 20)
            cpu_before = cpu_seconds(proc)
            asyncio.run(paced.open_loop(half_rate, half_duration))
            half_cpu = cpu_seconds(proc) - cpu_before
            hist_after = asyncio.run(bot_histogram(admin))
    return {
        **result,
        "half_rate": half_rate,
        "half_replied": paced.replied,
        "half_offered": int(half_rate * half_duration),
        "half_cpu_share": half_cpu / half_duration,
        "bot_share_under_50ms": share_within(hist_before, hist_after, 0.05),
        "bot_share_under_25ms": share_within(hist_before, hist_after, 0.025),
        "user_p50_ms": paced.latency.get_value_at_percentile(50) / 1000,
        "user_p99_ms": paced.latency.get_value_at_percentile(99) / 1000,
    }


def one_run(total: int, half_duration: float, tmp: Path) -> dict[str, dict[str, float]]:
    echo = measure_echo(max(total, 10000), tmp)  # enough CPU time for psutil's 10 ms ticks
    bot = measure_bot(total, half_duration, tmp, PLAIN_TEXT)
    card = measure_bot(total, 0, tmp, CARD)
    print(
        f"  run: echo {echo['per_cpu_s']:,.0f} round trips per CPU-s; reference bot {bot['per_cpu_s']:,.0f} plain-text "
        f"and {card['per_cpu_s']:,.0f} AI-card messages per CPU-s of the bot process (ratios to echo "
        f"{bot['per_cpu_s'] / echo['per_cpu_s']:.3f} and {card['per_cpu_s'] / echo['per_cpu_s']:.3f}); the emulator "
        f"handled {bot['emulator_per_cpu_s']:,.0f} per CPU-s; half load {bot['half_rate']:,.0f} msg/s: "
        f"{bot['half_replied']} of {bot['half_offered']} answered, bot processing {bot['bot_share_under_50ms']:.2%} "
        f"under 50 ms, user p50 / p99 {bot['user_p50_ms']:.1f} / {bot['user_p99_ms']:.1f} ms; ledger "
        f"{'exact' if bot['exact'] and card['exact'] else 'MISMATCH'}; {load_average()}",
        flush=True,
    )
    return {"echo": echo, "bot": bot, "card": card}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages, shorter half-load phase")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="repetitions (default 2)")
    args = parser.parse_args()
    total, half_duration = (2000, 3.0) if args.quick else (20000, 15.0)
    print(f"{max(1, args.repeat)} runs; {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        runs = [one_run(total, half_duration, Path(tmp)) for _ in range(max(1, args.repeat))]
    echo = [r["echo"]["per_cpu_s"] for r in runs]
    plain = [r["bot"]["per_cpu_s"] for r in runs]
    card = [r["card"]["per_cpu_s"] for r in runs]
    print(f"summary over {len(runs)} runs ({load_average()}):")
    print(f"  echo baseline: {spread(echo)} round trips per CPU-second of the echo server")
    print(f"  reference bot, plain text: {spread(plain)} messages per CPU-second of the bot process")
    print(f"  reference bot, AI cards (3 open-API calls each): {spread(card)} messages per CPU-second")
    print(f"  ratio bot / echo (same run): plain {spread([b / e for b, e in zip(plain, echo, strict=True)], digits=3)}")
    print(f"  ratio bot / echo (same run): cards {spread([c / e for c, e in zip(card, echo, strict=True)], digits=3)}")
    under = [r["bot"]["bot_share_under_50ms"] * 100 for r in runs]
    print(f"  half load: bot processing under 50 ms {spread(under, ' %', 2)} of messages")
    exact = all(r["bot"]["exact"] and r["card"]["exact"] for r in runs)
    print(f"ledger and users' replies {'agree exactly' if exact else 'DISAGREE'} in every run")
    print(json.dumps(runs))
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
