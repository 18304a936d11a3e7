"""A full disk, for real (a small tmpfs): the run stops cleanly with its reason, keeps the ledger and the
manifest, and `harness report` says what there is without a traceback."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.core.contract import ExitCode
from harness.core.runfolder.diskspace import RESERVE_NAME, DiskReserve
from harness.core.runfolder.jsonlines import JsonLinesReader, JsonLinesWriter
from harness.core.runfolder.writer import Manifest
from harness.core.scenario.config import parse_scenario
from harness.platform import AppConfig, PlatformServer, Settings
from harness.run.orchestrator import Run, RunOptions
from harness.run.pollers import LedgerPoller
from tests.smalldisk import fill, small_disk

pytestmark = pytest.mark.integration


def test_manifest_and_json_lines_hold_back_on_a_full_disk_and_catch_up_after():
    with small_disk(1) as disk:
        manifest = Manifest(disk / "manifest.json", scenario="s")
        lines = JsonLinesWriter(disk / "samples.jsonl")
        lines.write({"n": 0})
        filler = fill(disk)
        manifest.update(status="aborted")  # no exception: held in memory
        assert manifest.unsaved is not None and manifest.unsaved.strerror
        assert json.loads((disk / "manifest.json").read_text())["status"] == "running"  # the old one, whole
        assert not (disk / "manifest.json.tmp").exists()
        lines.write({"n": 1, "pad": "x" * 20_000})  # more than the page it ends in: torn, then refused
        lines.write({"n": 2})
        assert lines.unwritten >= 1 and lines.error is not None
        filler.unlink()
        manifest.save()
        assert manifest.unsaved is None and json.loads((disk / "manifest.json").read_text())["status"] == "aborted"
        lines.write({"n": 3})
        lines.close()
        reader = JsonLinesReader(disk / "samples.jsonl")
        numbers = [item["n"] for item in reader]
        assert numbers[0] == 0 and numbers[-1] == 3 and reader.bad <= 1  # the torn line only


def test_the_emulator_says_why_it_could_not_write_the_ledger_and_leaves_no_tmp():
    async def scenario(disk: Path) -> PlatformServer:
        settings = Settings(apps=(AppConfig(app_id="app", secret="secret"),))
        server = PlatformServer(settings, ledger_file=disk / "ledger.json")
        await server.start()
        fill(disk)
        await server.stop()  # no exception
        return server

    with small_disk(1) as disk:
        server = asyncio.run(scenario(disk))
        assert server.ledger_unwritten is not None
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_harness_run_refuses_to_start_without_free_space(capsys):
    with small_disk(2) as disk:
        code = main(["run", "smoke", "--runs-dir", str(disk / "runs"), "--min-free-mb", "10"])
        err = capsys.readouterr().err.strip()
        assert code == ExitCode.ABORTED
        assert err.startswith("harness run: not enough free disk space") and "--min-free-mb" in err
        assert "\n" not in err and not (disk / "runs").exists()


def test_a_run_that_fills_its_disk_aborts_keeps_the_ledger_and_reports():
    """The disk fills while the run plays: the run stops with the reason, the reserve pays for the
    manifest, the ledger (here the run's last live snapshot: the emulator did not write one) and the
    report; the exit code says aborted, not an SLA breach."""
    live = PlatformServer(Settings(apps=(AppConfig(app_id="app", secret="secret"),))).summary()
    with small_disk(24) as disk:
        out = io.StringIO()
        run = Run(parse_scenario({}, "full"), RunOptions(runs_dir=disk / "runs", out=out))
        try:
            run.ledger = LedgerPoller("http://127.0.0.1:9", run._lines("ledger.jsonl"), run.clock)
            run.ledger.last = live
            run._start = lambda: fill(disk)  # stands for the components filling the disk
            run._play = lambda: [run._check_alive() for _ in range(2)]  # type: ignore[assignment,func-returns-value]
            code = run.execute()
        finally:
            shutil.rmtree(run.ready_dir, ignore_errors=True)
        assert code == ExitCode.ABORTED, out.getvalue()
        manifest = json.loads((run.run_dir / "manifest.json").read_text())
        assert manifest["status"] == "aborted" and manifest["abort_reason"].startswith("disk full: ")
        assert json.loads((run.run_dir / "ledger.json").read_text())["messages"] == live["messages"]
        assert json.loads((run.run_dir / "report.json").read_text())["verdict"] == "INCOMPLETE"
        assert not (run.run_dir / RESERVE_NAME).exists()
        assert "run aborted: disk full" in out.getvalue()


def test_harness_report_on_a_full_disk_prints_what_there_is(capsys):
    with small_disk(2) as disk:
        run_dir = disk / "run"
        run_dir.mkdir()
        Manifest(run_dir / "manifest.json", scenario="s")  # as a run killed mid-way leaves it
        (run_dir / "ledger.json.tmp").write_text("")
        fill(disk)
        code = main(["report", str(run_dir)])
        captured = capsys.readouterr()
        assert code == ExitCode.HARNESS_ERROR
        assert captured.out.startswith("INCOMPLETE")
        assert captured.err.startswith("harness report: report files NOT written") and "No space left" in captured.err
        assert captured.err.count("\n") == 1


def test_the_reserve_is_real_blocks_and_is_released():
    with small_disk(4) as disk:
        reserve = DiskReserve(disk, 3 << 20)
        reserve.hold()
        assert reserve.path.stat().st_blocks * 512 >= 3 << 20  # allocated, not sparse
        (disk / "other").mkdir()
        with pytest.raises(OSError):
            DiskReserve(disk / "other", 2 << 20).hold()
        assert not any((disk / "other").iterdir())  # a reserve that did not fit is not left behind
        assert reserve.release() and not reserve.release()
