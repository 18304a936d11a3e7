"""`harness experiment` end to end: two short arms with a real Redis. The engine is made slow on purpose
(an injected 0.5 s before the first token) and every question repeats, so the cache arm avoids that
delay for all but the first asking of each question; the comparison must show it, with intervals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core import procs
from harness.core.contract import ExitCode
from tests.tools import needs_tool

pytestmark = [pytest.mark.e2e, pytest.mark.solo]  # compares arms: needs a quiet machine

ROOT = Path(__file__).resolve().parents[2]
ENGINE_DELAY_S = 0.5
EXPERIMENT = f"""
name = "cache-e2e"
claim = "a cache avoids the engine's delay for repeated questions"
repetitions = 1
bootstrap_samples = 500

[scenario.target.engine]
first_token_seconds = {ENGINE_DELAY_S}
tokens_per_second = 0
reply_tokens = 8
plain_text_max_tokens = 10

[scenario.shape]
kind = "smoke"
users = 6
duration_s = 14
start = "Mon 10:00"

[scenario.load]
messages_per_user_per_minute = 40
reply_timeout_s = 5
window_s = 2

[scenario.mix]
smoke_interval_s = 0
membership = 0

[scenario.messages]
repeat_share = 1.0
popular_questions = 3

[[arms]]
name = "engine only"

[[arms]]
name = "cache"
label = "the cache"
bot = {{ answer_cache = {{ enabled = true }} }}
"""


@needs_tool("redis-server")
def test_a_two_arm_experiment_shows_the_delay_the_cache_avoids(tmp_path: Path):
    spec = tmp_path / "cache-e2e.toml"
    spec.write_text(EXPERIMENT)
    argv = [sys.executable, "-m", "harness", "experiment", str(spec), "--no-prometheus", "--runs-dir", str(tmp_path)]
    log = tmp_path / "experiment.log"
    proc = procs.start(argv, log, cwd=ROOT, new_session=True)
    try:
        proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail(f"harness experiment did not finish in 300 s:\n{log.read_text()[-3000:]}")
    finally:
        procs.stop(proc, grace=60, group=True)
    output = log.read_text()
    assert proc.returncode == ExitCode.OK, output[-3000:]
    folder = next((tmp_path / "experiments").glob("*-cache-e2e"))
    report = json.loads((folder / "experiment.json").read_text())
    assert [r["arm"] for r in report["runs"]] == ["engine only", "cache"]
    assert all(r["healthy"] for r in report["runs"]) and not report["problems"]
    assert all(len(r["load_average_before"]) == 3 for r in report["runs"])
    slis = {s["id"]: s for s in report["slis"]}
    control, cached = slis["reply_p50"]["arms"]
    assert control["estimate"]["value"] >= ENGINE_DELAY_S  # every answer waited for the engine
    assert cached["estimate"]["high"] < ENGINE_DELAY_S  # most were answered from the cache
    p50 = slis["reply_p50"]["differences"][0]
    assert p50["clear"] and p50["relative"]["high"] < -0.5
    assert slis["cache_hit_rate"]["arms"][1]["estimate"]["value"] > 0.8
    assert slis["cache_hit_rate"]["arms"][0]["estimate"]["value"] is None  # no cache, no lookups
    assert any(s.startswith("The cache cut reply latency P50 by ") and "hit rate" in s for s in report["sentences"])
    for page in ("experiment.md", "experiment.html"):
        assert "The cache cut reply latency P50" in (folder / page).read_text()
    assert "experiment cache-e2e: 2 of 2 runs counted" in output
