"""`harness run` behaviours that need their own short runs: coordinated omission, distributed
workers, a component dying mid-run."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.core import histograms
from harness.core.contract import ExitCode
from tests.e2e.runs_week import HarnessProcess, run_harness
from tests.tools import needs_tool

pytestmark = pytest.mark.e2e

STEADY = """
name = "{name}"
[target.engine]
first_token_seconds = 0.02
tokens_per_second = 0
reply_tokens = 10
[shape]
kind = "smoke"
users = {users}
duration_s = {duration}
start = "Mon 10:00"
[load]
messages_per_user_per_minute = 60
reply_timeout_s = 8
window_s = 2
[mix]
smoke_interval_s = 0
membership = 0
"""

# a completed run's exit codes: these runs share the machine with another test (make test), so a busy rig
# may make them INCONCLUSIVE; what they check does not depend on the verdict
VERDICTS = (ExitCode.OK, ExitCode.SLA_BREACHED, ExitCode.INCONCLUSIVE)


def windows(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "windows.jsonl").read_text().splitlines()]


def poisson_floor(mean: float, tail: float) -> int:
    """The largest k with P(X < k) <= tail for X ~ Poisson(mean)."""
    k, term, below = 0, math.exp(-mean), 0.0
    while below + term <= tail:
        below += term
        k += 1
        term *= mean / k
    return k


def test_push_stall_shows_in_latency_from_intended_send_time(tmp_path: Path):
    """The emulator holds every push 3 s for 6 s of the run: the open-loop generator keeps sending at
    the asked rate, and every message sent in the stall shows >= 3 s; none is hidden."""
    stalled = (
        STEADY.format(name="stall", users=15, duration=22)
        + """
[[faults]]
at = "Mon 10:00:08"
until = "Mon 10:00:14"
set = { push_delay_s = 3.0 }
"""
    )
    result = run_harness(stalled, tmp_path, "--no-prometheus", timeout=180)
    assert result.returncode in VERDICTS, result.output[-3000:]
    ws = windows(result.run_dir)
    stall = [w for w in ws if w["wall_start"] >= 9 and w["wall_end"] <= 14]
    calm = [w for w in ws if w["wall_end"] <= 7]
    assert stall and calm
    rate = 15 * 60 / 60
    # open loop: the stall does not slow the sending down. The sends are Poisson, so the count over the
    # stall is held to the count a Poisson process at the asked rate undershoots once in a million runs
    # (a closed loop would send almost nothing while its replies wait 3 s)
    sent = sum(w["sent"] for w in stall)
    expected = rate * sum(w["wall_end"] - w["wall_start"] for w in stall)
    assert sent >= poisson_floor(expected, 1e-6), (sent, expected, stall)
    for w in stall:
        hist = histograms.decode(w["reply_hist"])
        # every message sent inside the stall waited for the delayed push (0.1 % histogram precision)
        assert hist.get_min_value() >= 2_990_000 and hist.get_total_count() == w["sent"]
    calm_p99 = histograms.percentile_seconds(histograms.merge(w["reply_hist"] for w in calm), 99)
    assert calm_p99 is not None and calm_p99 < 1.0


def worker_totals(log: Path) -> dict[str, int]:
    match = re.search(r"harness worker totals (\{.*\})", log.read_text())
    assert match, f"no totals in {log}"
    return json.loads(match.group(1))


def test_two_workers_merge_to_the_sum_of_their_counts(tmp_path: Path):
    result = run_harness(
        STEADY.format(name="dist", users=20, duration=14), tmp_path, "--workers", "2", "--no-prometheus", timeout=180
    )
    assert result.returncode in VERDICTS, result.output[-3000:]
    ws = windows(result.run_dir)
    per_worker = [worker_totals(result.run_dir / "logs" / f"loadgen-worker-{i}.log") for i in (1, 2)]
    assert all(t.get("sent", 0) > 20 for t in per_worker)  # both carried load
    for key in ("sent", "replies_ok"):
        merged = sum(w[key] for w in ws)
        assert merged == sum(t.get(key, 0) for t in per_worker) > 0
    merged_hist = histograms.merge(w["reply_hist"] for w in ws)
    assert merged_hist.get_total_count() == sum(t.get("replies_ok", 0) for t in per_worker)
    assert all(w["workers"] == 2 for w in ws)
    summary = json.loads((result.run_dir / "loadgen.json").read_text())
    assert len(summary["workers"]) == 2 and summary["workers_missing_final"] == []


def wait_for_load(run_dir: Path, timeout: float = 90) -> dict:
    """The manifest once the first window is written (load is flowing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = run_dir / "windows.jsonl"
        if path.exists() and path.read_text().strip():
            return json.loads((run_dir / "manifest.json").read_text())
        time.sleep(0.2)
    pytest.fail("load never started")


def assert_all_children_gone(manifest: dict) -> None:
    for comp in manifest["components"].values():
        assert not psutil.pid_exists(comp["pid"]) or psutil.Process(comp["pid"]).status() == psutil.STATUS_ZOMBIE


def test_bot_killed_mid_run_aborts_with_partial_report(tmp_path: Path):
    run = HarnessProcess(STEADY.format(name="kill", users=10, duration=60), tmp_path, "--no-prometheus")
    try:
        bot_pid = wait_for_load(run.run_dir)["components"]["bot"]["pid"]
        os.kill(bot_pid, signal.SIGKILL)
    finally:
        result = run.finish(180)
    assert result.returncode == ExitCode.ABORTED, result.output[-3000:]
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "aborted" and "bot" in manifest["abort_reason"]
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["verdict"] == "INCOMPLETE"
    assert result.output.strip().splitlines()[-1].startswith("SLA verdict: INCOMPLETE")
    assert_all_children_gone(manifest)
    assert sum(w["sent"] for w in windows(result.run_dir)) > 0  # what was measured is kept
    # the master was stopped, not killed: it drained, collected the worker's last windows and flushed
    assert json.loads((result.run_dir / "loadgen.json").read_text())["workers_missing_final"] == []


def test_a_killed_worker_is_said_and_availability_stays_within_the_ledger(tmp_path: Path):
    """SIGKILL one of two Locust workers mid-run: its last windows never reach the master, so the load
    generator's counts fall short of the ledger's. The report says what it could not measure, and its
    availability is never above what the ledger allows."""
    run = HarnessProcess(
        STEADY.format(name="killworker", users=20, duration=40), tmp_path, "--workers", "2", "--no-prometheus"
    )
    try:
        manifest = wait_for_load(run.run_dir)
        time.sleep(6)  # let the worker hold a few unsettled windows: what dies with it
        os.kill(manifest["components"]["loadgen-worker-2"]["pid"], signal.SIGKILL)
    finally:
        result = run.finish(240)
    assert result.returncode == ExitCode.ABORTED, result.output[-3000:]
    assert result.output.strip().splitlines()[-1] == "SLA verdict: INCOMPLETE"
    report = json.loads((result.run_dir / "report.json").read_text())
    ledger = json.loads((result.run_dir / "ledger.json").read_text())["messages"]
    accounting = report["accounting"]
    assert accounting["ledger_sent"] == ledger["sent"] and accounting["generator_sent"] < ledger["sent"], accounting
    assert accounting["unmeasured"] == ledger["sent"] - accounting["generator_sent"]
    assert any("was not measured" in note for note in accounting["notes"]), accounting
    assert any("was not measured" in reason for reason in report["incomplete_reasons"])
    availability = next(s for s in report["slas"] if s["id"] == "availability")
    assert availability["value"] <= 1 - ledger["lost"] / ledger["sent"] + 1e-9, (availability, ledger)


def test_ctrl_c_stops_cleanly_and_still_reports(tmp_path: Path):
    run = HarnessProcess(STEADY.format(name="ctrlc", users=10, duration=60), tmp_path, "--no-prometheus")
    try:
        wait_for_load(run.run_dir)
        run.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the harness
    finally:
        result = run.finish(180)
    assert result.returncode == ExitCode.ABORTED, result.output[-3000:]
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "aborted" and "interrupted" in manifest["abort_reason"]
    assert manifest["components"]["platform"]["exit_code"] == 0  # stopped in order, not killed
    assert (result.run_dir / "ledger.json").exists() and (result.run_dir / "report.html").exists()
    assert result.output.strip().splitlines()[-2].startswith("report: ")
    assert_all_children_gone(manifest)


def assert_exact_accounting(run_dir: Path, ws: list[dict]) -> None:
    """Every message has exactly one fate in the ledger, the load generator saw the same fates, and a
    message without a reply is explained: the ledger says where it stopped and why, and it was sent
    while the rig did not hold (the verdict is then INCONCLUSIVE). Anything else fails, naming them."""
    ledger = json.loads((run_dir / "ledger.json").read_text())
    fates = ledger["messages"]
    sent = sum(w["sent"] for w in ws)
    answered = sum(w["replies_ok"] for w in ws)
    assert fates["sent"] == sent and fates["pending"] == 0, fates  # nothing unaccounted for
    assert fates["replied"] + fates["lost"] == sent, fates  # one fate each
    # the users saw what the ledger says; a user times out from the intended send time, the ledger from
    # the arrival, so a send that started late may be the ledger's reply and its user's timeout
    late_starts = sum(w["late_starts"] for w in ws)
    assert 0 <= fates["replied"] - answered <= late_starts, (fates, answered, late_starts)
    if not fates["lost"]:
        return
    report = json.loads((run_dir / "report.json").read_text())
    run_start = json.loads((run_dir / "timemap.json").read_text())["run_start_unix"]
    spans = [(s["wall_start"], s["wall_end"]) for s in (report["rig"] or {}).get("unhealthy_spans", [])]
    unexplained = [
        {k: m.get(k) for k in ("msgId", "stage", "reason", "sent_at")}
        for m in ledger["lost_sample"]
        if not any(a <= m["sent_at"] - run_start <= b for a, b in spans)
    ]
    no_reply = [x for w in ws for x in w.get("no_reply_sample", [])]
    assert report["verdict"] == "INCONCLUSIVE" and not unexplained and len(ledger["lost_sample"]) == fates["lost"], (
        f"{fates['lost']} of {sent} messages lost on loopback; not explained by the rig: {unexplained}; "
        f"lost_by_stage {ledger['lost_by_stage']}, connections {ledger['connections']}, user-side no-reply "
        f"sample {no_reply[:5]}, rig {report['rig']}"
    )


def test_your_own_bot_started_from_a_command(tmp_path: Path):
    """target.kind = "command": the harness starts the emulator, then the command with the DingTalk SDK's
    environment (endpoint, client id and a per-run secret); the bot is ready once its stream connects."""
    own_bot = f"""
name = "own-bot"
[target]
kind = "command"
command = ["{sys.executable}", "-m", "harness", "bot", "--first-token-seconds", "0.02", "--tokens-per-second", "0"]
[shape]
kind = "smoke"
users = 5
duration_s = 10
[load]
messages_per_user_per_minute = 60
reply_timeout_s = 8
window_s = 2
"""
    result = run_harness(own_bot, tmp_path, "--no-prometheus", timeout=180)
    assert result.returncode in VERDICTS, result.output[-3000:]
    ws = windows(result.run_dir)
    sent, answered = sum(w["sent"] for w in ws), sum(w["replies_ok"] for w in ws)
    assert sent > 20 and sent == answered + sum(w["timeouts"] + w["errors"] for w in ws)  # every send settled
    assert_exact_accounting(result.run_dir, ws)
    ledger = json.loads((result.run_dir / "ledger.json").read_text())
    assert ledger["refusals"] == [], ledger["refusals"]  # the reference bot makes no call the platform refuses
    manifest_text = (result.run_dir / "manifest.json").read_text()
    assert json.loads(manifest_text)["components"]["bot"]["command"][1:3] == ["-m", "harness"]
    assert "DINGTALK_CLIENT_SECRET" not in manifest_text


@needs_tool("prometheus")
def test_prometheus_killed_mid_run_is_restarted_and_the_report_names_the_alert_gap(tmp_path: Path):
    """SIGKILL the run's real Prometheus while the load plays: the run goes on to its verdict (not
    aborted), Prometheus is started again on the same port and TSDB, and every report format says that
    alerts were not evaluated between the kill and the restart."""
    scenario = STEADY.format(name="promkill", users=5, duration=20) + "[monitoring]\nscrape_interval_s = 1\n"
    run = HarnessProcess(scenario, tmp_path)
    try:
        first = wait_for_load(run.run_dir)["components"]["prometheus"]["pid"]
        os.kill(first, signal.SIGKILL)
    finally:
        result = run.finish(180)
    assert result.returncode in VERDICTS, result.output[-3000:]
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] != "aborted" and manifest["components"]["prometheus"]["pid"] != first
    [gap] = manifest["prometheus"]["gaps"]
    assert gap["reason"] == "Prometheus exited with code -9; restarted", gap
    assert 0 < gap["from_wall_s"] < gap["to_wall_s"] < 20 + 10, gap
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["conditions"]["prometheus"]["gaps"] == [gap]
    said = f"Alerts were not evaluated from {gap['from_wall_s']:.0f} s to {gap['to_wall_s']:.0f} s after the load"
    assert said in (result.run_dir / "report.md").read_text()
    assert said in (result.run_dir / "report.html").read_text()
    assert any("alerts were not evaluated from then until" in w for w in manifest["warnings"])
