"""What every benchmark shares: the emulator and the cheap echo bot as processes, per-process CPU, the
spread of repeated figures and the load average printed with them.

The reference machine is 2 cores shared with other people's work: absolute rates move with what else
runs, so figures are per CPU-second of the process that does the work (psutil), each is printed with
the load average at the time, and every benchmark repeats its phases and gives the spread.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core import histograms, procs

APP, SECRET = "bench-app", "bench-secret"  # what the emulator is started with and the echo bot connects as
DEFAULT_REPEAT = 2


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def spread(values: Sequence[float], unit: str = "", digits: int = 0) -> str:
    """`mean (min - max, n runs)` of a figure measured several times."""
    fmt = f"{{:,.{digits}f}}"
    if not values:
        return "n/a"
    mean = fmt.format(statistics.fmean(values))
    if len(values) == 1:
        return f"{mean}{unit} (1 run)"
    return f"{mean}{unit} ({fmt.format(min(values))} - {fmt.format(max(values))}, {len(values)} runs)"


def start_emulator(
    tmp: Path,
    reply_timeout_s: float = 30.0,
    extra_env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
):
    """`harness platform` with the bench app (and `extra_args`); returns (process, urls)."""
    env = {**os.environ, "HARNESS_APP_SECRET": SECRET, **(extra_env or {})}
    cmd = [
        sys.executable,
        "-m",
        "harness",
        "platform",
        "--app",
        APP,
        "--ready-file",
        str(tmp / "emu.ready"),
        "--reply-timeout",
        f"{reply_timeout_s:g}",
        *extra_args,
    ]
    return procs.start_ready(cmd, tmp / "emu.ready", tmp / "emu.log", env=env)


def start_echo_bot(url: str, tmp: Path):
    """The minimal echo bot of harness.bench.platform (cheap, so the emulator or the generator is measured);
    returns once its stream is connected."""
    bot = procs.start([sys.executable, "-m", "harness.bench.platform", "--role", "bot", "--url", url], tmp / "bot.log")
    try:
        wait_for_stream(url)
    except BaseException:
        procs.stop(bot)
        raise
    return bot


def ledger(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/admin/ledger", timeout=30) as resp:
        return json.loads(resp.read())


def wait_for_stream(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ledger(url)["connections"]["current"] >= 1:
            return
        time.sleep(0.05)
    raise RuntimeError("the bench bot did not connect to the emulator")


def settle(url: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The ledger once no message is pending (what an earlier phase sent has been answered or lost)."""
    deadline = time.monotonic() + timeout_s
    while True:
        summary = ledger(url)
        if summary["messages"]["pending"] == 0 or time.monotonic() > deadline:
            return summary
        time.sleep(0.05)


def run_counts(run_dir: Path, before: dict[str, int], after: dict[str, int]) -> tuple[bool, dict[str, int]]:
    """Whether a harness run's accounting agrees exactly, and its counts. `before` / `after`: the ledger's
    messages around the run. Always exact: loadgen.json = the sum of windows.jsonl, the histograms hold one
    record per reply, sent = replies + timeouts + errors, and the ledger saw every send. The ledger's
    replied equals the replies only when nothing timed out: a reply after the generator's timeout is
    a timeout to the user and a reply to the ledger."""
    totals = json.loads((run_dir / "loadgen.json").read_text())["totals"]
    windows = [json.loads(x) for x in (run_dir / "windows.jsonl").read_text().splitlines()]
    summed = {k: sum(w[k] for w in windows) for k in ("offered", "sent", "replies_ok", "timeouts", "errors")}
    records = sum(histograms.decode(w["reply_hist"]).get_total_count() for w in windows)
    counts = {
        "sent": totals["sent"],
        "replies": totals["replies_ok"],
        "timeouts": totals["timeouts"],
        "errors": totals["errors"],
        "histogram records": records,
        "ledger sent": after["sent"] - before["sent"],
        "ledger replied": after["replied"] - before["replied"],
    }
    exact = (
        all(totals[k] == v for k, v in summed.items())
        and records == totals["replies_ok"]
        and totals["offered"] == totals["replies_ok"] + totals["timeouts"] + totals["errors"]
        and counts["ledger sent"] == totals["sent"]
        and (counts["ledger replied"] == totals["replies_ok"] or totals["timeouts"] > 0)
        and counts["ledger replied"] >= totals["replies_ok"]
    )
    return exact, counts


@dataclass
class Checks:
    """The checks a benchmark failed, each printed as it fails; the bench exits 1 if there are any."""

    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, failure: str) -> None:
        if not ok:
            self.failures.append(failure)
            print(f"  FAILED: {failure}", flush=True)
