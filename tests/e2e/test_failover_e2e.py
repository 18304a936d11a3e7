"""`harness run failover`: two reference bots in active-standby, the serving one SIGKILLed at the peak
and started again. One run (about 30 s of play, no Prometheus) serves every assertion: nothing lost,
the kill and the restart recorded, the report's failover figures those of ledger.json, and the
restarted replica back, standing by (or serving)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core import assets
from harness.core.contract import ExitCode
from tests.e2e.runs_week import HarnessRun, run_harness

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def failover_run(tmp_path_factory: pytest.TempPathFactory) -> HarnessRun:
    text = (assets.scenarios_dir() / "failover.toml").read_text()
    run = run_harness(text, tmp_path_factory.mktemp("failover-run"), "--no-prometheus", timeout=240)
    # the SLA verdict depends on the shared machine (INCONCLUSIVE when the rig did not hold); the run must end
    assert run.returncode in (ExitCode.OK, ExitCode.SLA_BREACHED, ExitCode.INCONCLUSIVE), run.output[-3000:]
    return run


def read(run: HarnessRun, name: str) -> dict:
    return json.loads((Path(run.run_dir) / name).read_text())


def test_nothing_is_lost_when_the_serving_replica_is_killed(failover_run: HarnessRun) -> None:
    ledger = read(failover_run, "ledger.json")
    messages = ledger["messages"]
    assert messages["lost"] == 0 and messages["pending"] == 0, messages
    assert messages["replied"] == messages["sent"] > 0
    [incident] = ledger["incidents"]
    assert incident["in_flight"]["fates"]["lost"] == 0 and incident["in_flight"]["fates"]["late"] == 0


def test_the_kill_and_the_restart_are_recorded_with_their_pids(failover_run: HarnessRun) -> None:
    manifest = read(failover_run, "manifest.json")
    kill, restart = manifest["process_faults"]
    assert (kill["process"], kill["replica"], kill["serving"]) == ("kill", 1, True)
    assert (restart["process"], restart["replica"], restart["pid"]) == ("restart", 1, kill["pid"])
    assert restart["new_pid"] != kill["pid"] and kill["wall"] < restart["wall"]
    assert "skipped" not in kill and "skipped" not in restart
    assert manifest["components"]["bot"]["pid"] == restart["new_pid"]
    assert {"bot", "bot-2"} <= set(manifest["components"])
    assert (Path(failover_run.run_dir) / "logs" / "bot-2.log").exists()


def test_the_failover_section_is_the_ledgers_count(failover_run: HarnessRun) -> None:
    ledger, report = read(failover_run, "ledger.json"), read(failover_run, "report.json")
    [incident] = ledger["incidents"]
    kill = report["failover"][0]
    assert kill["incident"] == incident["id"]
    for group in ("in_flight", "sent_during"):
        assert kill[group] == incident[group]
        assert kill[group]["count"] == sum(incident[group]["fates"].values())  # every message accounted for
    assert kill["in_flight"]["count"] >= 1  # the peak: something was in flight on the killed replica
    assert kill["unaccounted"] == 0 and kill["lost_msg_ids"] == []
    assert kill["duplicate_replies"] == incident["duplicate_replies"]
    manifest_kill = read(failover_run, "manifest.json")["process_faults"][0]
    assert kill["to_next_reply_s"] == pytest.approx(
        max(0.0, incident["recovered_at"] - manifest_kill["unix"]), abs=1e-3
    )
    assert 0 <= kill["to_next_reply_s"] < 5  # the standby took over before the platform's ACK timeout
    assert kill["availability"] == 1.0
    assert not [f for f in report["findings"] if f["id"].startswith("failover.")]
    assert "## Failover" in (Path(failover_run.run_dir) / "report.md").read_text()


def test_the_restarted_replica_is_back_standing_by_or_serving(failover_run: HarnessRun) -> None:
    replicas = read(failover_run, "manifest.json")["replicas"]
    assert [(r["replica"], r["running"]) for r in replicas] == [(1, True), (2, True)]
    assert replicas[0]["connection"] is not None and len(replicas[0]["pids"]) == 2
    assert [r["serving"] for r in replicas].count(True) == 1
