"""`week_run`: the default week, compressed to about a minute, played end to end once per session.

Real processes on loopback: the emulator, the reference bot, Locust master + worker, Prometheus (when
installed) and the sampler, through the real `harness run` command. Other areas' tests reuse the run
folder it returns (report, dashboards, diagnosis), so the scenario exercises every path worth reading:
the 7 peaks, a login-abuse window (Wed), forced 429s on card streaming (Thu) and py-spy profiles of the
bot at Tuesday's and Friday's peaks.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.core.contract import ExitCode

ROOT = Path(__file__).resolve().parents[2]

# The shipped week (scenarios/week.toml) with the clock squeezed: ~55 s of wall time, 2 s windows.
WEEK_MINUTE = """
name = "week-minute"
description = "The default week compressed to about a minute (test suite)"

[target.engine]
first_token_seconds = 0.05
tokens_per_second = 400
reply_tokens = 30

[shape]
kind = "week"
peak_users = 40

[compression]
factor = 40000
peak_window = ["09:30", "10:30"]
peak_wall_s = 5
weekend_peak_wall_s = 3

[load]
messages_per_user_per_minute = 30
reply_timeout_s = 8
window_s = 2

[mix]
smoke_interval_s = 5

[abuse]
logins_per_minute = 240
windows = [["Wed 09:30", "Wed 10:30"]]

[[faults]]
at = "Thu 09:40"
until = "Thu 10:20"
set = { errors = { card_streaming = { status = 429, ratio = 0.3 } } }

[[profiling]]
at = "Tue 09:45"
seconds = 3
components = ["bot"]

[[profiling]]
at = "Fri 09:45"
seconds = 3
components = ["bot"]

[monitoring]
scrape_interval_s = 1
"""


@dataclass
class HarnessRun:
    returncode: int
    output: str
    run_dir: Path


class HarnessProcess:
    """`harness run SCENARIO` in a subprocess with its own session; `finish()` always reaps it."""

    def __init__(self, scenario_text: str, workdir: Path, *args: str):
        workdir.mkdir(parents=True, exist_ok=True)
        scenario = workdir / "scenario.toml"
        scenario.write_text(scenario_text)
        cmd = [
            sys.executable,
            "-m",
            "harness",
            "run",
            str(scenario),
            "--runs-dir",
            str(workdir / "runs"),
            "--progress-every",
            "5",
            *args,
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()  # the harness announces its run folder before anything else
        match = re.match(r"^run folder: (.+)$", first.strip())
        if not match:
            self.finish(30)
            pytest.fail(f"no run folder announced: {first!r}")
        self.run_dir = Path(match.group(1))
        self.output = first

    def finish(self, timeout: float) -> HarnessRun:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                out, _ = self.proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                out, _ = self.proc.communicate()
            pytest.fail(f"harness run did not finish within {timeout:.0f} s:\n{(self.output + out)[-3000:]}")
        self.output += out
        return HarnessRun(self.proc.returncode, self.output, self.run_dir)


def run_harness(scenario_text: str, workdir: Path, *args: str, timeout: float = 240.0) -> HarnessRun:
    return HarnessProcess(scenario_text, workdir, *args).finish(timeout)


@pytest.fixture(scope="session")
def week_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a complete run folder of the compressed default week (report built)."""
    result = run_harness(WEEK_MINUTE, tmp_path_factory.mktemp("week-run"))
    verdicts = (ExitCode.OK, ExitCode.SLA_BREACHED, ExitCode.INCONCLUSIVE)  # which one: test_run_week.py
    assert result.returncode in verdicts, f"harness run failed ({result.returncode}):\n{result.output[-4000:]}"
    return result.run_dir
