"""Benchmark: the largest offered peak (messages per second) this machine sustains against the reference
bot, with a healthy rig and the P99 SLA met, and where the first limit was.

The whole rig runs here: `harness platform`, the reference bot (engine at zero cost, plain-text answers)
and one Locust process with the harness users. The offered rate climbs a ladder; each step is a fresh
Locust run at a fixed rate. A step passes when
- the SLA holds: P99 reply latency (windows' HdrHistograms) within the contract's threshold and every
  message answered (no timeouts or errors beyond the availability objective);
- the rig is healthy: the generator started late (behind its open-loop schedule by more than the
  scenario's late-start limit) for under 1 % of sends, and no process of the rig used more than
  BUSY_CORE of a core (psutil, over the steady part of the step).
The first step that fails names the first limit: the first resource that ran out of generator,
emulator, bot and host (all cores busier than HOST_BUSY, other people's work included), else the SLA
itself (latency with no resource exhausted). Counts are checked against the emulator's ledger at
every step.

    python -m harness.bench.capacity [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.bench.common import (
    APP,
    DEFAULT_REPEAT,
    SECRET,
    load_average,
    run_counts,
    settle,
    spread,
    start_emulator,
)
from harness.core import histograms, procs
from harness.core.contract import THRESHOLDS
from harness.core.readiness import wait_ready_file
from harness.run.components import locustfile

BUSY_CORE = 0.90  # a process above this share of one core is the bottleneck
HOST_BUSY = 0.97  # all cores this busy: the host itself is out of CPU
LATE_SHARE = 0.01  # late starts above this share of sends: the generator is behind its schedule
LADDER = (100, 200, 400, 700, 1000, 1400, 2000, 2800, 4000, 5600)
QUICK_LADDER = (100, 300)
SCENARIO = """
name = "capacity"
[shape]
kind = "soak"
users = {users}
duration_s = {seconds}
[load]
messages_per_user_per_minute = {per_user_min}
reply_timeout_s = {reply_timeout_s}
window_s = {window_s}
[mix]
smoke_interval_s = 0
membership = 0
one_to_one = 100
group = 0
"""


@dataclass
class Step:
    rate: float
    sent: int = 0
    replies: int = 0
    failed: int = 0
    late: int = 0
    p99_s: float | None = None
    cores: dict[str, float] = field(default_factory=dict)  # generator, emulator, bot, host (share of all cores)
    ledger_exact: bool = False

    def problems(self) -> list[str]:
        """Why this step is not sustained: the SLA broken or the rig unhealthy (empty when it is)."""
        found = []
        if self.p99_s is None or self.p99_s > THRESHOLDS.p99_latency_seconds:
            found.append(f"P99 {1000 * (self.p99_s or 0):.0f} ms > {1000 * THRESHOLDS.p99_latency_seconds:.0f} ms")
        if self.sent and self.failed / self.sent > 1 - THRESHOLDS.availability:
            found.append(f"{self.failed} of {self.sent} messages unanswered")
        return found + self.saturated(include_host=False)

    def saturated(self, include_host: bool = True) -> list[str]:
        """The resources that ran out, in the order a limit is named: generator, emulator, bot, host."""
        found = []
        host_busy = self.cores.get("host", 0.0) > HOST_BUSY
        if self.sent and self.late / self.sent > LATE_SHARE:
            late = f"late starts {self.late / self.sent:.1%} of sends"
            if host_busy and self.cores.get("generator", 0.0) <= BUSY_CORE:  # it waited for a core, not on itself
                found.append(f"host (all cores busy, other work included; the generator fell behind: {late})")
            else:
                found.append(f"generator ({late})")
        for name in ("generator", "emulator", "bot"):
            if self.cores.get(name, 0.0) > BUSY_CORE:
                found.append(f"{name} (CPU {self.cores[name]:.0%} of a core)")
        if include_host and host_busy and not found:
            found.append(f"host (CPU {self.cores['host']:.0%} of all cores, other work included)")
        return found

    def first_limit(self) -> str:
        saturated = self.saturated()
        if saturated:
            return saturated[0]
        return "SLA with no resource exhausted (" + "; ".join(self.problems()) + ")"

    def line(self) -> str:
        cores = ", ".join(f"{k} {v:.0%}" for k, v in self.cores.items())
        verdict = f"not sustained: {'; '.join(self.problems())}" if self.problems() else "sustained"
        return (
            f"  {self.rate:>6.0f} msg/s: {self.replies}/{self.sent} answered, P99 {1000 * (self.p99_s or 0):.0f} ms, "
            f"late {self.late}, CPU {cores}; ledger {'exact' if self.ledger_exact else 'MISMATCH'} -> {verdict}"
        )


def run_step(url: str, tmp: Path, rate: float, seconds: float, pids: dict[str, int]) -> Step:
    users = int(min(400, max(20, rate / 5)))
    run_dir = tmp / f"step-{rate:g}"
    run_dir.mkdir(parents=True)
    scenario = run_dir / "capacity.toml"
    window_s = 2 if seconds < 10 else 5
    reply_timeout_s = 3 if seconds < 10 else 10  # the run ends with a drain of reply_timeout_s + 2 s
    per_user_min = rate / users * 60
    scenario.write_text(
        SCENARIO.format(
            users=users, seconds=seconds, per_user_min=per_user_min, window_s=window_s, reply_timeout_s=reply_timeout_s
        )
    )
    cmd = [sys.executable, "-m", "locust", "-f", locustfile(), "--headless", "--only-summary"]
    cmd += ["--exit-code-on-error", "0", "--stop-timeout", "5", "--harness-scenario", str(scenario)]
    cmd += ["--harness-run-dir", str(run_dir), "--harness-platform-url", url]
    before = settle(url)["messages"]
    step = Step(rate)
    with procs.child(cmd, run_dir / "locust.log") as proc:
        deadline = time.monotonic() + 60
        while not (run_dir / "timemap.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"locust did not start (see {run_dir / 'locust.log'})")
            time.sleep(0.02)
        watched = {**pids, "generator": proc.pid}
        time.sleep(min(2.0, seconds / 4))  # users connect; measure the steady part of the play
        cpu0 = {name: procs.cpu_seconds(pid) for name, pid in watched.items()}
        psutil.cpu_percent()
        wall0 = time.monotonic()
        time.sleep(max(0.5, seconds - min(2.0, seconds / 4) - 0.5))
        wall = time.monotonic() - wall0
        step.cores = {name: (procs.cpu_seconds(pid) - cpu0[name]) / wall for name, pid in watched.items()}
        step.cores["host"] = psutil.cpu_percent() / 100
        proc.wait(timeout=seconds + 60)
    after = settle(url)["messages"]
    step.ledger_exact, counts = run_counts(run_dir, before, after)
    windows = [json.loads(x) for x in (run_dir / "windows.jsonl").read_text().splitlines()]
    step.sent, step.replies = counts["sent"], counts["replies"]
    step.late = sum(w["late_starts"] for w in windows)
    step.failed = counts["timeouts"] + counts["errors"]
    step.p99_s = histograms.percentile_seconds(histograms.merge(w["reply_hist"] for w in windows), 99)
    return step


def start_bot(url: str, tmp: Path):
    env = {**os.environ, "DINGTALK_CLIENT_SECRET": SECRET}
    cmd = [sys.executable, "-m", "reference_bot", "--platform", url, "--client-id", APP]
    cmd += ["--ready-file", str(tmp / "bot.ready"), "--log-file", str(tmp / "bot.log")]
    cmd += ["--first-token-seconds", "0", "--tokens-per-second", "0", "--cpu-ms-per-token", "0"]
    cmd += ["--reply-tokens", "8", "--plain-text-max-tokens", "8"]
    bot = procs.start(cmd, tmp / "bot.out", env=env)
    try:
        wait_ready_file(tmp / "bot.ready", bot, timeout=60)
    except BaseException:
        procs.stop(bot)
        raise
    return bot


def search(ladder: tuple[int, ...], seconds: float) -> tuple[float, Step | None, list[Step]]:
    """Climb the ladder until a step fails: (largest sustained rate, the failing step, all steps)."""
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp_name:
        tmp = Path(tmp_name)
        emulator, urls = start_emulator(tmp)
        try:
            bot = start_bot(urls["http"], tmp)
            try:
                settle(urls["http"])
                for rate in ladder:
                    step = run_step(urls["http"], tmp, rate, seconds, {"emulator": emulator.pid, "bot": bot.pid})
                    steps.append(step)
                    print(step.line(), flush=True)
                    if step.problems():
                        break
            finally:
                procs.stop(bot, grace=30)
        finally:
            procs.stop(emulator, grace=30)
    passed = [s for s in steps if not s.problems()]
    failing = next((s for s in steps if s.problems()), None)
    return (passed[-1].rate if passed else 0.0), failing, steps


def main(quick: bool, repeat: int) -> int:
    ladder, seconds = (QUICK_LADDER, 4.0) if quick else (LADDER, 15.0)
    print(
        f"capacity against the reference bot (engine at zero cost), P99 <= {THRESHOLDS.p99_latency_seconds:g} s, "
        f"{repeat} runs of the ladder {', '.join(map(str, ladder))} msg/s, {seconds:g} s a step; {load_average()}"
    )
    results = []
    for i in range(repeat):
        print(f"run {i + 1}:", flush=True)
        results.append(search(ladder, seconds))
        best, failing, _ = results[-1]
        limit = failing.first_limit() if failing else f"none up to {ladder[-1]} msg/s (the ladder's top)"
        print(f"  largest sustained: {best:.0f} msg/s; first limit: {limit}; {load_average()}", flush=True)
    print(f"summary: largest offered peak sustained {spread([r[0] for r in results], ' msg/s')}")
    for best, failing, _ in results:
        if failing is not None:
            busiest = max(("generator", "emulator", "bot"), key=lambda n: failing.cores.get(n, 0.0))
            print(
                f"  above {best:.0f} msg/s the first limit was {failing.first_limit()}; busiest process: {busiest} "
                f"({failing.cores.get(busiest, 0.0):.0%} of a core)"
            )
    exact = all(s.ledger_exact for _, _, steps in results for s in steps)
    print(f"counts: loadgen.json, histograms and ledger {'agree exactly' if exact else 'DISAGREE'} at every step")
    return 0 if exact else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two short steps (100 and 300 msg/s)")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="repetitions (default 2)")
    args = parser.parse_args()
    sys.exit(main(args.quick, max(1, args.repeat)))
