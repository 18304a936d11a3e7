"""The failover section and finding from a run folder: a kill's incident in ledger.json with its
messages' fates, joined with the manifest's record of the kill. Synthetic run folders (one day)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.report.builder import analyse
from harness.bench.synthetic import RUN_START, SyntheticRun, write_run
from harness.core import assets

pytestmark = pytest.mark.integration

KILL = {
    "wall": 30.0,
    "sim": 36030.0,
    "unix": RUN_START + 30.0,
    "step": "faults[0] at Mon 10:00:30",
    "process": "kill",
    "replica": 1,
    "component": "bot",
    "pid": 4242,
    "connection": "conn-1",
    "serving": True,
    "incident": 1,
    "in_flight": 4,
}
RESTART = {**KILL, "step": "faults[0] until Mon 10:00:40", "process": "restart", "incident": None, "new_pid": 4343}
del RESTART["in_flight"]


def incident(lost: int) -> dict:
    fates = {"replied": 1, "redelivered_replied": 3 - lost, "late": 0, "lost": lost, "pending": 0}
    messages = [
        {"msgId": f"m{i}", "group": "in_flight", "fate": "lost", "connections": ["conn-1"]} for i in range(lost)
    ]
    return {
        "id": 1,
        "label": KILL["step"],
        "connection": "conn-1",
        "opened_at": KILL["unix"] - 0.01,
        "connection_closed_at": KILL["unix"] + 0.05,
        "recovered_at": KILL["unix"] + 0.6,
        "settle_s": 5.0,
        "in_flight": {"count": 4, "fates": fates},
        "sent_during": {
            "count": 50,
            "fates": {"replied": 50, "redelivered_replied": 0, "late": 0, "lost": 0, "pending": 0},
        },
        "duplicate_replies": 2,
        "unfollowed": 0,
        "messages": messages,
    }


def run_with(tmp_path: Path, lost: int, faults: list[dict] | None = None) -> Path:
    spec = SyntheticRun(days=1, manifest_extra={"process_faults": [KILL, RESTART] if faults is None else faults})
    run = write_run(tmp_path / "run", spec)
    ledger = json.loads((run / "ledger.json").read_text())
    ledger["incidents"] = [incident(lost)]
    ledger["lost_sample"] += [{"msgId": f"m{i}", "stage": "no_reply", "reason": "ACKed"} for i in range(lost)]
    (run / "ledger.json").write_text(json.dumps(ledger))
    return run


def test_a_kill_that_lost_messages_is_a_finding_with_the_ledgers_evidence(tmp_path: Path):
    data = analyse(run_with(tmp_path, lost=2)).data
    kill, restart = data.failover or []
    assert (kill.to_next_reply_s, kill.duplicate_replies, kill.unaccounted) == (0.6, 2, 0)
    assert kill.in_flight is not None and kill.in_flight.fates.lost == 2
    assert kill.availability == pytest.approx(52 / 54)
    assert kill.lost_msg_ids == ["m0", "m1"]
    assert (restart.new_pid, restart.incident, restart.in_flight) == (4343, None, None)
    finding = next(f for f in data.findings if f.id == "failover.lost.1")
    text = " | ".join(e.text for e in finding.evidence)
    assert "kill of bot (pid 4242, the serving replica) at Mon 10:00 (faults[0] at Mon 10:00:30)" in text
    assert "4 messages were in flight on its connection: 1 answered, 1 redelivered and answered" in text
    assert "lost at: no_reply 2" in text and "e.g. m0, m1" in text and "0.60 s after the fault" in text
    assert "ACKed these messages and died before answering" in finding.cause
    assert (assets.runbooks_dir() / Path(finding.runbook).name).exists()
    assert (
        "Failover (faults[0] at Mon 10:00:30, kill of bot): 4 message(s) in flight, 1 redelivered and answered, "
        "2 not answered in time; next reply after 600 ms, availability over the incident 96.3%." in data.summary
    )


def test_a_kill_that_lost_nothing_has_its_section_and_no_finding(tmp_path: Path):
    data = analyse(run_with(tmp_path, lost=0)).data
    assert data.failover is not None and data.failover[0].availability == 1.0
    assert not [f for f in data.findings if f.id.startswith("failover.")]


def test_a_run_without_process_faults_has_no_failover_section(tmp_path: Path):
    assert analyse(run_with(tmp_path, lost=0, faults=[])).data.failover is None
