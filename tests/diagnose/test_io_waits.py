"""The "waiting on I/O" finding on synthetic run folders: the report's I/O section from samples.jsonl's
I/O fields, and the finding's judgement against contract.IO_WAIT (blocked share where offered, else
storage writes with their amplification), for the bot and its replicas only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.diagnose.model import Finding
from harness.analysis.report.builder import analyse
from harness.analysis.report.render import write_markdown
from harness.bench.synthetic import SyntheticRun, write_run
from harness.core.contract import IO_WAIT

pytestmark = pytest.mark.unit

NOT_OFFERED = "not offered: delay accounting is off (test)"
# measured on the project's machine (docs/diagnose.md "Waiting on I/O"): the reference bot at ~10 msg/s
SYNCED_LOG = {"io_read_bps": 0, "io_write_bps": 70_000, "io_wchar_bps": 44_000}  # logging.fsync = true
BUFFERED_LOG = {"io_read_bps": 0, "io_write_bps": 3_400, "io_wchar_bps": 48_000}  # the default


def _with_io(run: Path, procs: dict[str, dict[str, Any]], blocked_source: str = NOT_OFFERED) -> Path:
    """Give every sample the I/O fields of `procs` (component -> fields) and the host's."""
    path = run / "samples.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for line in lines:
        line["host"].update({"iowait": 0.01, "disk_busy": 0.05, "disk": "vda"})
        for name, fields in procs.items():
            line["procs"].setdefault(name, {"cpu": 0.1, "rss": 5e7, "threads": 2, "fds": 10}).update(fields)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["sampler"] = {"io_blocked": blocked_source}
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def _io_findings(run: Path) -> dict[str, Finding]:
    return {f.id: f for f in analyse(run).data.findings if f.id.startswith("io.")}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", SyntheticRun())


def test_a_bot_fsyncing_its_log_is_found_waiting_with_its_evidence(run: Path) -> None:
    found = _io_findings(_with_io(run, {"bot": SYNCED_LOG, "platform": BUFFERED_LOG}))
    assert list(found) == ["io.waiting.bot"]
    finding = found["io.waiting.bot"]
    assert finding.title == "bot waiting on I/O" and finding.runbook == "runbooks/io-waits.md"
    texts = " | ".join(e.text for e in finding.evidence)
    assert f"time blocked on I/O: {NOT_OFFERED}" in texts
    assert "bot wrote 68.4 KiB/s to storage" in texts and "1.59 bytes to storage per byte" in texts
    assert "host iowait peaked at 1.0%" in texts and "disk vda was busy 5.0%" in texts
    assert "no py-spy profile of bot" in texts


def test_buffered_writes_and_the_rig_s_own_writes_are_no_finding(run: Path) -> None:
    # the harness's own files amplify too (small appends to many files), but the rig is not the target
    assert _io_findings(_with_io(run, {"bot": BUFFERED_LOG, "harness": {**SYNCED_LOG, "io_write_bps": 200_000}})) == {}


def test_replicas_are_judged_each(run: Path) -> None:
    found = _io_findings(_with_io(run, {"bot-1": SYNCED_LOG, "bot-2": BUFFERED_LOG}))
    assert list(found) == ["io.waiting.bot-1"]


def test_a_slow_trickle_of_synced_writes_is_below_the_rate_floor(run: Path) -> None:
    trickle = {"io_write_bps": IO_WAIT.write_bytes_per_s * 0.5, "io_wchar_bps": 1_000}
    assert _io_findings(_with_io(run, {"bot": trickle})) == {}


def test_where_blocked_time_is_counted_it_decides(run: Path) -> None:
    source = "delay accounting (/proc/sys/kernel/task_delayacct = 1)"
    blocked = {**BUFFERED_LOG, "io_blocked": IO_WAIT.blocked_share * 2}
    found = _io_findings(_with_io(run, {"bot": blocked}, source))
    texts = " | ".join(e.text for e in found["io.waiting.bot"].evidence)
    assert f"bot was blocked on block I/O for {IO_WAIT.blocked_share * 2:.1%} of wall time" in texts
    # amplified writes without blocked time are no finding where the kernel can say so directly
    assert _io_findings(_with_io(run, {"bot": {**SYNCED_LOG, "io_blocked": 0.0}}, source)) == {}


def test_the_report_shows_the_io_section(run: Path) -> None:
    report = analyse(_with_io(run, {"bot": SYNCED_LOG}))
    io = report.data.io
    assert io is not None and io.blocked_source == NOT_OFFERED and io.busiest_disk == "vda"
    bot = io.components["bot"]
    assert bot.write_bps.sustained_peak == pytest.approx(70_000) and bot.blocked is None
    assert bot.write_amplification_at_peak == pytest.approx(70_000 / 44_000, abs=1e-3)
    assert io.host_iowait is not None and io.host_iowait.max == pytest.approx(0.01)
    markdown = write_markdown(report).read_text()
    assert "## I/O" in markdown and "| bot | 0 B/s / 0 B/s | 68.4 KiB/s / 68.4 KiB/s | 1.59 | not offered |" in markdown


def test_a_run_folder_without_io_figures_has_no_io_section(run: Path) -> None:
    report = analyse(run)
    assert report.data.io is None and not [f for f in report.data.findings if f.id.startswith("io.")]
