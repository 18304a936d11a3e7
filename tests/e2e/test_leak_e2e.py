"""Leak detection end to end: the reference bot's leak switch on, a short real-time run with two memory
snapshots, and the diagnosis names the leaking function; the shared week run (switch off) has no leak."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.contract import ExitCode
from tests.e2e.runs_week import run_harness

pytestmark = pytest.mark.e2e
LEAK_BYTES = 256 * 1024  # per message: 10 msg/s make 2.5 MB/s, far above any warm-up growth

LEAKING = f"""
name = "leak-demo"

[target.engine]
first_token_seconds = 0.02
tokens_per_second = 1000
reply_tokens = 10

[target.config]
leak_demo.bytes_per_message = {LEAK_BYTES}

[shape]
kind = "smoke"
users = 10
duration_s = 36
start = "Mon 10:00"

[load]
messages_per_user_per_minute = 60
reply_timeout_s = 4
window_s = 2

[mix]
smoke_interval_s = 0

[[profiling]]
at = "Mon 10:00:04"
seconds = 1
memory = true

[[profiling]]
at = "Mon 10:00:30"
seconds = 1
memory = true
"""


@pytest.fixture(scope="module")
def leak_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    result = run_harness(LEAKING, tmp_path_factory.mktemp("leak-run"), "--no-prometheus")
    verdicts = (ExitCode.OK, ExitCode.SLA_BREACHED, ExitCode.INCONCLUSIVE)
    assert result.returncode in verdicts, f"harness run failed ({result.returncode}):\n{result.output[-4000:]}"
    return json.loads((result.run_dir / "report.json").read_text())


def test_the_leak_finding_names_the_leaking_function(leak_report: dict) -> None:
    assert [s["window"] for s in leak_report["manifest"]["memory_snapshots"]] == ["Mon-100004", "Mon-100030"]
    findings = {f["id"]: f for f in leak_report["findings"]}
    leak = findings.get("memory.leak.bot")
    assert leak is not None, sorted(findings)
    assert "LeakDemo.remember_for_leak_demo" in leak["title"], leak["title"]
    [bot] = [p for p in leak_report["growth"]["processes"] if p["component"] == "bot"]
    # the RSS holds at least the leak; more besides (the allocator's slack, the snapshots' own copies)
    per_10k_mb = LEAK_BYTES * 10_000 / 2**20
    assert 0.8 * per_10k_mb < bot["rss_mb"]["per_10k_messages"] < 4 * per_10k_mb, bot
    [snap] = leak_report["growth"]["snapshots"]
    top = snap["sites"][0]
    assert top["function"] == "LeakDemo.remember_for_leak_demo" and top["growth_blocks"] > 50, top
    assert top["growth_bytes"] == pytest.approx(top["growth_blocks"] * LEAK_BYTES, rel=0.001)  # exactly the leak
    assert not [f for f in findings if f.startswith("memory.leak.") and f != "memory.leak.bot"]


@pytest.mark.solo  # the shared week run (tests/conftest.py)
def test_without_the_switch_no_leak_finding(week_run: Path) -> None:
    report = json.loads((week_run / "report.json").read_text())
    assert not [f["id"] for f in report["findings"] if f["id"].startswith("memory.leak")]
    assert report["growth"] is None or not any(p["leak"] for p in report["growth"]["processes"])
