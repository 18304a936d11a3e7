"""Benchmark: load-generator efficiency, a Locust worker with the harness users vs a plain asyncio client.

Both drive the same emulator and the same minimal echo bot (harness.bench.platform --role bot, so
the bot is cheap and the generator is what is measured) open-loop at the same offered rate, match
every reply by clientMsgId and record its latency in an HdrHistogram. The figure is matched round
trips per CPU-second of the generator process (read with psutil), so the shared machine's other load
does not count. Then: RSS of one Locust process holding many idle users with heartbeats.

    python -m harness.bench.loadgen [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import psutil
import websockets

from harness.core import histograms, procs
from harness.run.components import locustfile

APP, SECRET = "bench-app", "bench-secret"  # what harness.bench.platform's echo bot connects with
SCENARIO = """
name = "bench"
[shape]
kind = "soak"
users = {users}
duration_s = {seconds}
[load]
messages_per_user_per_minute = {per_user_min}
reply_timeout_s = 5
window_s = 5
[mix]
smoke_interval_s = 0
membership = 0
"""


def locust_phase(url: str, tmp: Path, users: int, rate: float, seconds: float) -> dict:
    """One Locust process (local runner: users, windows and merging in one process)."""
    run_dir = tmp / f"locust-{users}-{rate:g}"
    run_dir.mkdir()
    scenario = run_dir / "bench.toml"
    scenario.write_text(SCENARIO.format(users=users, seconds=seconds, per_user_min=rate / users * 60))
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        locustfile(),
        "--headless",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "5",
        "--harness-scenario",
        str(scenario),
        "--harness-run-dir",
        str(run_dir),
        "--harness-platform-url",
        url,
    ]
    with procs.child(cmd, run_dir / "locust.log") as proc:
        ps = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        while not (run_dir / "timemap.json").exists():  # the load starts: imports are not counted
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("locust did not start")
            time.sleep(0.02)
        cpu0, rss = procs.cpu_seconds(ps), 0
        last = cpu0
        while proc.poll() is None:
            try:
                last, rss = procs.cpu_seconds(ps), max(rss, ps.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.1)
    totals = json.loads((run_dir / "loadgen.json").read_text())["totals"]
    windows = [json.loads(x) for x in (run_dir / "windows.jsonl").read_text().splitlines()]
    p99 = histograms.percentile_seconds(histograms.merge(w["reply_hist"] for w in windows), 99)
    cpu = last - cpu0
    return {
        "replies": totals.get("replies_ok", 0),
        "sent": totals.get("sent", 0),
        "cpu_s": cpu,
        "per_cpu_s": totals.get("replies_ok", 0) / cpu if cpu else float("nan"),
        "msg_per_s": totals.get("sent", 0) / seconds,
        "p99_ms": (p99 or 0) * 1000,
        "rss_mb": rss / 2**20,
    }


async def asyncio_client(url: str, users: int, rate: float, seconds: float) -> dict:
    """The same job on plain asyncio + websockets: open-loop Poisson sends, replies matched, HdrHistogram."""
    hist = histograms.new_histogram()
    pending: dict[str, float] = {}
    replies = 0
    ws_url = url.replace("http://", "ws://") + "/user?userId="

    async def reader(ws) -> None:
        nonlocal replies
        async for text in ws:
            frame = json.loads(text)
            if frame.get("type") == "reply":
                intended = pending.pop(frame["clientMsgId"], None)
                if intended is not None:
                    histograms.record_seconds(hist, time.monotonic() - intended)
                    replies += 1

    async def user(i: int, ws) -> None:
        rng = random.Random(i)
        next_at, n = time.monotonic(), 0
        end = next_at + seconds
        while True:
            next_at += rng.expovariate(rate / users)
            if next_at >= end:
                return
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            n += 1
            cid = f"a{i}-{n}"
            pending[cid] = next_at
            await ws.send(
                json.dumps(
                    {
                        "type": "message",
                        "clientMsgId": cid,
                        "conversationId": f"dm-a{i}",
                        "conversationType": "1",
                        "text": "hello",
                    }
                )
            )

    sockets = [await websockets.connect(f"{ws_url}a{i}", max_queue=None) for i in range(users)]
    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    cpu0 = time.process_time()
    await asyncio.gather(*(user(i, ws) for i, ws in enumerate(sockets)))
    deadline = time.monotonic() + 5
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    cpu = time.process_time() - cpu0
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    p99 = histograms.percentile_seconds(hist, 99)
    return {
        "replies": replies,
        "cpu_s": cpu,
        "per_cpu_s": replies / cpu if cpu else float("nan"),
        "msg_per_s": replies / seconds,
        "p99_ms": (p99 or 0) * 1000,
    }


def fmt(name: str, r: dict) -> str:
    extra = f"  rss {r['rss_mb']:.0f} MB" if "rss_mb" in r else ""
    return (
        f"  {name:<26} {r['replies']:>7} replies  {r['cpu_s']:6.2f} CPU-s  {r['per_cpu_s']:8.0f} round trips/CPU-s"
        f"  {r['msg_per_s']:7.0f} msg/s  p99 {r['p99_ms']:6.0f} ms{extra}"
    )


def main(quick: bool) -> int:
    users, seconds = (50, 8.0) if quick else (100, 20.0)
    rate = 600.0 if quick else 1500.0
    idle_users = 1000 if quick else 5000
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "HARNESS_APP_SECRET": SECRET}
        emulator, urls = procs.start_ready(
            [
                sys.executable,
                "-m",
                "harness",
                "platform",
                "--app",
                APP,
                "--ready-file",
                str(tmp / "emu"),
                "--reply-timeout",
                "30",
            ],
            tmp / "emu",
            tmp / "emu.log",
            env=env,
        )
        bot = procs.start(
            [sys.executable, "-m", "harness.bench.platform", "--role", "bot", "--url", urls["http"]], tmp / "bot.log"
        )
        try:
            time.sleep(1.0)  # the echo bot connects its stream (its readiness is the emulator's connection)
            base = asyncio.run(asyncio_client(urls["http"], users, rate, seconds))
            loc = locust_phase(urls["http"], tmp, users, rate, seconds)
            idle = locust_phase(urls["http"], tmp, idle_users, 0.0, 15.0 if quick else 30.0)
        finally:
            procs.stop(bot, emulator, grace=30)
    print(f"offered {rate:.0f} msg/s from {users} users for {seconds:.0f} s, same emulator and echo bot:")
    print(fmt("asyncio websockets client", base))
    print(fmt("Locust (harness users)", loc))
    ratio = loc["per_cpu_s"] / base["per_cpu_s"]
    print(f"  ratio Locust / asyncio: {ratio:.2f} round trips per CPU-second")
    ok_rate = loc["per_cpu_s"] >= 3000
    print(
        f"  Locust capacity on one core: ~{loc['per_cpu_s']:.0f} msg/s with latency tracking "
        f"(goal >= 3000: {'met' if ok_rate else 'NOT met'})"
    )
    ok_idle = idle["rss_mb"] < 1024
    print(
        f"idle users: {idle_users} connected, with heartbeats, in one Locust process: RSS {idle['rss_mb']:.0f} MB "
        f"({idle['rss_mb'] * 1024 / idle_users:.0f} kB per user; goal for 5000 users < 1 GB: "
        f"{'met' if ok_idle else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter phases, lower rate, 1000 idle users")
    sys.exit(main(parser.parse_args().quick))
