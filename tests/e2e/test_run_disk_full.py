"""`harness run` on a disk that fills up mid-run (a small tmpfs, filled by the test once the load flows):
the run aborts with the reason and exit code 3, the manifest says so, the emulator's ledger and the report
are written, and `harness report` on the folder works."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.core.contract import ExitCode
from harness.core.runfolder.diskspace import RESERVE_NAME
from tests.e2e.runs_week import ROOT, HarnessProcess
from tests.e2e.test_run_behaviour import STEADY, wait_for_load
from tests.smalldisk import fill, small_disk

pytestmark = pytest.mark.e2e


def test_a_disk_that_fills_mid_run_aborts_cleanly_and_keeps_the_ledger():
    with small_disk(48) as disk:
        run = HarnessProcess(
            STEADY.format(name="diskfull", users=10, duration=60), disk, "--no-prometheus", "--min-free-mb", "16"
        )
        try:
            wait_for_load(run.run_dir)
            fill(disk)
        finally:
            result = run.finish(180)
        assert result.returncode == ExitCode.ABORTED, result.output[-3000:]
        assert "Traceback" not in result.output
        manifest = json.loads((result.run_dir / "manifest.json").read_text())
        assert manifest["status"] == "aborted" and manifest["abort_reason"].startswith("disk full"), manifest
        assert manifest["components"]["platform"]["exit_code"] == 0  # it wrote its ledger
        ledger = json.loads((result.run_dir / "ledger.json").read_text())
        assert ledger["messages"]["sent"] > 0
        assert json.loads((result.run_dir / "report.json").read_text())["verdict"] == "INCOMPLETE"
        assert not (result.run_dir / RESERVE_NAME).exists()
        again = subprocess.run(
            [sys.executable, "-m", "harness", "report", str(result.run_dir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == ExitCode.ABORTED and "Traceback" not in again.stderr, again.stderr
