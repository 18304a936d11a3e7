"""The "waiting on I/O" finding proven by the reference bot's switch: with `logging.fsync = true` the bot
fsyncs every log line on its event loop, the diagnosis says it waits on I/O, naming the bot, and py-spy's
view with idle threads shows the fsync frame on its stacks, so the two agree. The compressed week (the
shared run, default logging) has no such finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.report.builder import analyse
from harness.core.contract import ExitCode
from tests.e2e.runs_week import run_harness

pytestmark = pytest.mark.e2e

FSYNC_FRAME = "SyncedFileHandler.fsync_line (reference_bot/logs.py)"

# A short real-time run: 20 users at 40 messages a minute (about 13 a second, each 2 or 3 log lines),
# the bot's log fsynced line by line, and a py-spy window that samples idle threads too.
FSYNCED_LOG = """
name = "io-wait"
description = "The reference bot fsyncs every log line on its event loop"

[target.engine]
first_token_seconds = 0.05
tokens_per_second = 400
reply_tokens = 30

[target.config]
logging.fsync = true

[shape]
kind = "smoke"
users = 20
duration_s = 10
start = "Mon 10:00"

[load]
messages_per_user_per_minute = 40
reply_timeout_s = 4

[[profiling]]
at = "Mon 10:00:02"
seconds = 6
components = ["bot"]
idle = true
"""


@pytest.fixture(scope="module")
def fsynced_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = run_harness(FSYNCED_LOG, tmp_path_factory.mktemp("io-wait"), "--no-prometheus", timeout=120)
    verdicts = (ExitCode.OK, ExitCode.SLA_BREACHED, ExitCode.INCONCLUSIVE)  # a busy machine may breach the SLA
    assert result.returncode in verdicts, f"harness run failed ({result.returncode}):\n{result.output[-4000:]}"
    return result.run_dir


def test_the_fsynced_log_is_found_waiting_on_io_and_py_spy_agrees(fsynced_run: Path) -> None:
    report = analyse(fsynced_run).data
    findings = {f.id: f for f in report.findings}
    assert "io.waiting.bot" in findings, [f.id for f in report.findings]
    evidence = {e.source: e.text for e in findings["io.waiting.bot"].evidence}
    assert evidence["samples.jsonl procs.bot.io_write_bps, io_wchar_bps"].startswith("bot wrote ")
    [profile] = [p for p in report.profiles if p.component == "bot"]
    assert profile.idle
    frame = next(h for h in profile.hot if h.function == FSYNC_FRAME)
    assert frame.self_share > 0.005, [(h.function, h.self_share) for h in profile.hot[:8]]
    assert FSYNC_FRAME in evidence[profile.files.raw]  # the finding names the frame the profile shows
    assert report.io is not None and report.io.components["bot"].write_amplification_at_peak is not None


@pytest.mark.solo  # the shared week run (tests/conftest.py)
def test_the_week_with_default_logging_has_no_io_finding(week_run: Path) -> None:
    report = analyse(week_run).data
    assert not [f.id for f in report.findings if f.id.startswith("io.")]
    assert report.io is not None and "bot" in report.io.components
