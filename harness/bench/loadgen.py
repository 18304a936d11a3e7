"""Benchmark: load-generator efficiency. A Locust process with the harness users, next to a minimal Locust
locustfile and a plain asyncio client, all measured in the same run.

All three drive the same emulator and the same minimal echo bot (cheap on purpose, so the generator is
what is measured) at the same offered rate from the same number of users, and match every reply by
clientMsgId. The harness users also keep the open-loop schedule (latency from the intended send time,
late starts counted) and record each reply in the windows' HdrHistograms; the minimal locustfile
(MINIMAL_LOCUSTFILE below: websocket-client, Poisson waits, one Locust request event per reply) and
the asyncio client do no more than match and time. The figure is matched round trips per CPU-second of
the generator's own process (psutil) while the load plays (the whole process life, connections and the
harness run's drain included, is printed too). Every repetition checks that the
harness run's counts agree exactly: loadgen.json, windows.jsonl, its histograms and the emulator's
ledger. The harness users run a second time with `load.wakeup_batch_ms` (fewer event-loop wake-ups, a
few ms of latency: its median is printed next to the default's). Then: RSS of one Locust process holding many idle users with heartbeats.

    python -m harness.bench.loadgen [--quick] [--repeat N]
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

from harness.bench.common import (
    DEFAULT_REPEAT,
    load_average,
    run_counts,
    settle,
    spread,
    start_echo_bot,
    start_emulator,
)
from harness.core import histograms, procs
from harness.run.components import locustfile

WAKEUP_BATCH_MS = 5.0  # the harness users are measured again with load.wakeup_batch_ms at this
ARTILLERY_SENDS_PER_CPU_S = 6570  # docs/benchmarks/loadgen.md: Artillery 2 ws engine, sends only (mean)
SCENARIO = """
name = "bench"
[shape]
kind = "soak"
users = {users}
duration_s = {seconds}
[load]
messages_per_user_per_minute = {per_user_min}
reply_timeout_s = {reply_timeout_s}
window_s = {window_s}
wakeup_batch_ms = {wakeup_batch_ms}
[mix]
smoke_interval_s = 0
membership = 0
"""
# What a Locust user would write first: the usual WebSocket client, a reader greenlet per user matching
# replies, Poisson waits between sends, one request event per reply. No windows, no histograms.
MINIMAL_LOCUSTFILE = """
import itertools, json, os, random, time
import gevent, websocket
from locust import User, events, task

URL, RATE, OUT = os.environ["MINIMAL_URL"], float(os.environ["MINIMAL_RATE"]), os.environ["MINIMAL_OUT"]
ids = itertools.count()

@events.test_start.add_listener
def started(**_):
    open(OUT + ".started", "w").close()

@events.quitting.add_listener
def quitting(environment, **_):
    with open(OUT, "w") as out:
        json.dump({"replies": environment.stats.total.num_requests}, out)

class Employee(User):
    def wait_time(self):
        return random.expovariate(RATE)

    def on_start(self):
        self.name = f"m{next(ids)}"
        self.ws = websocket.create_connection(f"{URL}/user?userId={self.name}&accepted=0")
        self.pending, self.seq = {}, itertools.count()
        gevent.spawn(self.read)

    @task
    def send(self):
        cid = f"{self.name}-{next(self.seq)}"
        self.pending[cid] = time.time()
        self.ws.send(json.dumps({"type": "message", "clientMsgId": cid, "conversationId": "dm-" + self.name,
                                 "conversationType": "1", "text": "hello"}))

    def read(self):
        while True:
            frame = json.loads(self.ws.recv())
            sent = self.pending.pop(frame.get("clientMsgId"), None) if frame.get("type") == "reply" else None
            if sent is not None:
                events.request.fire(request_type="WS", name="reply", response_time=(time.time() - sent) * 1000,
                                    response_length=len(frame.get("content", "")), exception=None, context={})
"""


def watch(proc, started: Path, play_s: float, timeout_s: float = 60.0) -> tuple[float, float, float]:
    """CPU seconds of `proc` during the play (from when `started` appears, the load begins, for `play_s`)
    and over its whole life from then on (connections, drain and exit included); and its peak RSS."""
    ps = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout_s
    while not started.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the generator did not start (see {started.parent})")
        time.sleep(0.02)
    begin = time.monotonic()
    first = last = procs.cpu_seconds(ps)
    play = None
    rss = 0
    while proc.poll() is None:
        try:
            last, rss = procs.cpu_seconds(ps), max(rss, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        if play is None and time.monotonic() - begin >= play_s:
            play = last - first
        time.sleep(0.05)
    return (last - first if play is None else play), last - first, rss / 2**20


def harness_phase(
    url: str,
    run_dir: Path,
    users: int,
    rate: float,
    seconds: float,
    reply_timeout_s: float,
    wakeup_batch_ms: float = 0.0,
) -> dict:
    """One Locust process with the harness locustfile (local runner: users, windows and merging in one)."""
    run_dir.mkdir(parents=True)
    scenario = run_dir / "bench.toml"
    per_user_min = rate / users * 60
    scenario.write_text(
        SCENARIO.format(
            users=users,
            seconds=seconds,
            per_user_min=per_user_min,
            window_s=5,
            reply_timeout_s=reply_timeout_s,
            wakeup_batch_ms=wakeup_batch_ms,
        )
    )
    cmd = [sys.executable, "-m", "locust", "-f", locustfile(), "--headless", "--only-summary"]
    cmd += ["--exit-code-on-error", "0", "--stop-timeout", "5", "--harness-scenario", str(scenario)]
    cmd += ["--harness-run-dir", str(run_dir), "--harness-platform-url", url]
    before = settle(url)["messages"]
    with procs.child(cmd, run_dir / "locust.log") as proc:
        cpu, whole_cpu, rss = watch(proc, run_dir / "timemap.json", seconds)
    after = settle(url)["messages"]
    exact, counts = run_counts(run_dir, before, after)
    windows = [json.loads(x) for x in (run_dir / "windows.jsonl").read_text().splitlines()]
    hist = histograms.merge(w["reply_hist"] for w in windows)
    late = sum(w["late_starts"] for w in windows)
    return {
        "replies": counts["replies"],
        "cpu_s": cpu,
        "per_cpu_s": counts["replies"] / cpu if cpu else float("nan"),
        "per_whole_cpu_s": counts["replies"] / whole_cpu if whole_cpu else float("nan"),
        "late_starts": late,
        "p50_ms": (histograms.percentile_seconds(hist, 50) or 0) * 1000,
        "p99_ms": (histograms.percentile_seconds(hist, 99) or 0) * 1000,
        "rss_mb": rss,
        "counts_agree": exact,
        "counts": counts,
    }


def minimal_phase(url: str, tmp: Path, users: int, rate: float, seconds: float) -> dict:
    """The minimal locustfile, same users, rate and duration."""
    tmp.mkdir(parents=True)
    (tmp / "minimal_locustfile.py").write_text(MINIMAL_LOCUSTFILE)
    out = tmp / "minimal.json"
    env = {**os.environ, "MINIMAL_URL": url.replace("http", "ws", 1), "MINIMAL_RATE": str(rate / users)}
    env["MINIMAL_OUT"] = str(out)
    cmd = [sys.executable, "-m", "locust", "-f", str(tmp / "minimal_locustfile.py"), "--headless", "--only-summary"]
    cmd += ["-u", str(users), "-r", str(users), "-t", f"{seconds:g}s", "--stop-timeout", "5"]
    cmd += ["--exit-code-on-error", "0"]
    with procs.child(cmd, tmp / "locust.log", env=env) as proc:
        cpu, whole_cpu, rss = watch(proc, Path(f"{out}.started"), seconds)
    replies = json.loads(out.read_text())["replies"]
    return {
        "replies": replies,
        "cpu_s": cpu,
        "per_cpu_s": replies / cpu if cpu else float("nan"),
        "per_whole_cpu_s": replies / whole_cpu if whole_cpu else float("nan"),
        "rss_mb": rss,
    }


async def asyncio_client(url: str, users: int, rate: float, seconds: float) -> dict:
    """The same job on plain asyncio + websockets: open-loop Poisson sends, replies matched, HdrHistogram."""
    hist = histograms.new_histogram()
    pending: dict[str, float] = {}
    replies = 0
    ws_url = url.replace("http://", "ws://") + "/user?accepted=0&userId="

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
            frame = {"type": "message", "clientMsgId": cid, "conversationId": f"dm-a{i}", "text": "hello"}
            await ws.send(json.dumps(frame))

    sockets = [await websockets.connect(f"{ws_url}a{i}", max_queue=None) for i in range(users)]
    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    cpu0 = time.process_time()
    await asyncio.gather(*(user(i, ws) for i, ws in enumerate(sockets)))
    deadline = time.monotonic() + 10
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    cpu = time.process_time() - cpu0
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    return {"replies": replies, "cpu_s": cpu, "per_cpu_s": replies / cpu if cpu else float("nan")}


def repetition(url: str, tmp: Path, users: int, rate: float, seconds: float, reply_timeout_s: float) -> dict:
    result = {
        "asyncio": asyncio.run(asyncio_client(url, users, rate, seconds)),
        "minimal": minimal_phase(url, tmp / "minimal", users, rate, seconds),
        "harness": harness_phase(url, tmp / "harness", users, rate, seconds, reply_timeout_s),
        "batched": harness_phase(url, tmp / "batched", users, rate, seconds, reply_timeout_s, WAKEUP_BATCH_MS),
        "load": load_average(),
    }
    h, b = result["harness"], result["batched"]
    print(
        f"  run: harness {h['per_cpu_s']:,.0f}, minimal locustfile {result['minimal']['per_cpu_s']:,.0f}, asyncio "
        f"{result['asyncio']['per_cpu_s']:,.0f} round trips per CPU-second during the play (over each Locust "
        f"process's whole life: {h['per_whole_cpu_s']:,.0f} and {result['minimal']['per_whole_cpu_s']:,.0f}); "
        f"harness p50 {h['p50_ms']:.1f} ms, p99 {h['p99_ms']:.0f} ms, "
        f"{h['late_starts']} late starts; counts {'agree' if h['counts_agree'] else 'DISAGREE'} {h['counts']}; "
        f"{result['load']}",
        flush=True,
    )
    print(
        f"  run: harness with load.wakeup_batch_ms = {WAKEUP_BATCH_MS:g}: {b['per_cpu_s']:,.0f} round trips per CPU-second, "
        f"p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.0f} ms, {b['late_starts']} late starts; counts "
        f"{'agree' if b['counts_agree'] else 'DISAGREE'} {b['counts']}",
        flush=True,
    )
    return result


def main(quick: bool, repeat: int) -> int:
    # the harness run ends with a drain of reply_timeout_s + 2 s: short in quick runs
    users, seconds, rate, reply_timeout_s = (30, 4.0, 400.0, 3.0) if quick else (100, 20.0, 1500.0, 10.0)
    idle_users, idle_s = (300, 4.0) if quick else (5000, 30.0)
    print(f"offered {rate:.0f} msg/s from {users} users for {seconds:.0f} s, {repeat} runs; {load_average()}")
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as tmp_name:
        tmp = Path(tmp_name)
        emulator, urls = start_emulator(tmp)
        try:
            bot = start_echo_bot(urls["http"], tmp)
            try:
                runs = [
                    repetition(urls["http"], tmp / f"run{i}", users, rate, seconds, reply_timeout_s)
                    for i in range(repeat)
                ]
                idle = harness_phase(urls["http"], tmp / "idle", idle_users, 0.0, idle_s, reply_timeout_s)
            finally:
                procs.stop(bot, grace=30)
        finally:
            procs.stop(emulator, grace=30)
    figures = {k: [r[k]["per_cpu_s"] for r in runs] for k in ("harness", "batched", "minimal", "asyncio")}
    print("round trips per CPU-second of the generator process during the play (every reply read and matched):")
    print(f"  Locust + harness users (open loop, windows, HdrHistograms): {spread(figures['harness'])}")
    print(
        f"  the same, load.wakeup_batch_ms = {WAKEUP_BATCH_MS:g} (fewer wake-ups): {spread(figures['batched'])}; p50 "
        f"{spread([r['batched']['p50_ms'] for r in runs], digits=1)} ms against "
        f"{spread([r['harness']['p50_ms'] for r in runs], digits=1)} ms"
    )
    print(f"  minimal Locust locustfile (websocket-client, no histograms): {spread(figures['minimal'])}")
    print(f"  asyncio websockets client:                                  {spread(figures['asyncio'])}")
    whole = {k: [r[k]["per_whole_cpu_s"] for r in runs] for k in ("harness", "minimal")}
    print(
        f"  over each Locust process's whole life (connections, drain, exit): harness {spread(whole['harness'])}, "
        f"minimal locustfile {spread(whole['minimal'])}"
    )
    for other in ("minimal", "asyncio"):
        ratios = [h / o for h, o in zip(figures["harness"], figures[other], strict=True)]
        print(f"  ratio harness / {other} (same run): {spread(ratios, digits=2)}")
    artillery = [h / ARTILLERY_SENDS_PER_CPU_S for h in figures["harness"]]
    print(
        f"  harness / Artillery's {ARTILLERY_SENDS_PER_CPU_S:,} sends per CPU-s (REFERENCES, not this run): "
        f"{spread(artillery, digits=2)}"
    )
    agree = all(r[k]["counts_agree"] for r in runs for k in ("harness", "batched"))
    print(f"counts: loadgen.json, windows.jsonl, histograms and ledger {'agree exactly' if agree else 'DISAGREE'}")
    timeouts = sum(r[k]["counts"]["timeouts"] for r in runs for k in ("harness", "batched"))
    if timeouts:
        print(f"  ({timeouts} replies came after the generator's reply timeout: the rig was overloaded)")
    print(
        f"idle users: {idle_users} connected with heartbeats in one Locust process: RSS {idle['rss_mb']:.0f} MB "
        f"({idle['rss_mb'] * 1024 / idle_users:.0f} kB per user); {load_average()}"
    )
    return 0 if agree else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter phases, lower rate, 300 idle users")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="repetitions (default 2)")
    args = parser.parse_args()
    sys.exit(main(args.quick, max(1, args.repeat)))
