"""The benchmarks' quick modes run to the end and check their own accounting (real processes, ~1 min each).

Only robust things are asserted: the figures depend on the shared machine, the agreement of counts and
the printed ratios and load average do not.
"""

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def quick(name: str, repeat: int = 1) -> str:
    """One repetition each, but the platform bench's two, which check the spread the summaries print."""
    done = subprocess.run(
        [sys.executable, "-m", f"harness.bench.{name}", "--quick", "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "load average" in done.stdout and f"{repeat} runs" in done.stdout
    return done.stdout


def test_loadgen_bench_compares_with_a_minimal_locustfile_and_counts_agree():
    out = quick("loadgen")
    assert "ratio harness / minimal (same run)" in out and "ratio harness / asyncio (same run)" in out
    assert "load.wakeup_batch_ms = 5 (fewer wake-ups)" in out
    assert "histograms and ledger agree exactly" in out


def test_platform_bench_gives_the_ratio_to_echo_and_an_exact_ledger():
    out = quick("platform", repeat=2)
    assert "ratio emulator / echo (same run)" in out
    assert "agree exactly in every run" in out


def test_bot_bench_gives_the_ratio_to_echo_and_an_exact_ledger():
    out = quick("bot")
    assert "ratio bot / echo (same run): plain" in out
    assert "agree exactly in every run" in out


def test_capacity_bench_names_the_largest_sustained_peak_and_counts_agree():
    out = quick("capacity")
    assert "largest offered peak sustained" in out and "first limit" in out
    assert "agree exactly at every step" in out


def test_chaos_bench_survives_disconnects_a_hang_and_fuzz_with_nothing_lost():
    """The scaled-down chaos run: 30 forced disconnects (SYSTEM and abrupt), a hung connection, 1,000
    fuzzed frames on each of three sockets, with simulated users messaging throughout (fixed seed)."""
    done = subprocess.run(
        [sys.executable, "-m", "harness.bench.chaos", "--quick"], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "forced disconnects survived                 30  15 SYSTEM disconnect" in out
    assert re.search(r"hung connections found by the bot +1 .* heartbeat_timeout: [1-9]", out)
    assert "frames fuzzed                             3000" in out
    assert "lost 0" in out and "0 not" in out and "load average" in out
