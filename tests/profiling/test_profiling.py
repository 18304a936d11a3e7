"""Real py-spy on a small busy program: attach and launch, files written, the hot function found."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.analysis.report.builder import build_report
from harness.bench.synthetic import write_run
from harness.cli.main import main
from harness.core.contract import ExitCode
from harness.profiling import pyspy
from tests.tools import needs_pyspy_attach

pytestmark = pytest.mark.integration

BUSY = Path(__file__).with_name("busy.py")
can_attach = needs_pyspy_attach()


@pytest.fixture
def busy() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, str(BUSY), "120"], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield proc
    finally:
        proc.kill()
        proc.wait(30)


def _assert_views(result: pyspy.ProfileResult) -> None:
    assert result.hot[0]["function"].startswith("burn_cpu (") and result.hot[0]["self_share"] > 0.5
    files = result.files
    assert {"raw", "svg", "speedscope", "meta"} <= set(files)
    svg = ET.parse(files["svg"]).getroot()
    assert svg.tag.endswith("svg") and "burn_cpu" in files["svg"].read_text()
    speedscope = json.loads(files["speedscope"].read_text())
    [profile] = speedscope["profiles"]
    assert profile["type"] == "sampled" and sum(profile["weights"]) == result.samples
    names = {f["name"] for f in speedscope["shared"]["frames"]}
    assert "burn_cpu" in names
    assert json.loads(files["meta"].read_text())["mode"] == result.mode


@can_attach
def test_attach_records_window_and_finds_the_hot_function(busy, tmp_path: Path) -> None:
    recording = pyspy.record(busy.pid, tmp_path / "peak-day0", duration=2, rate=100)
    result = recording.wait(timeout=60)
    assert result.mode == "attached" and result.samples >= 50
    _assert_views(result)
    assert busy.poll() is None  # attaching never ends the profiled process


def test_launch_records_without_privilege_and_stop_ends_the_program(tmp_path: Path) -> None:
    recording = pyspy.launch([sys.executable, str(BUSY), "120"], tmp_path / "whole-run")
    child = recording.launched_pid()
    assert child is not None
    deadline = time.monotonic() + 60
    while psutil.Process(child).cpu_times().user < 1.0 and time.monotonic() < deadline:
        time.sleep(0.05)  # poll: let the program burn about a second of CPU under the sampler
    result = recording.stop(timeout=60)
    assert result.mode == "launched" and (tmp_path / "whole-run" / "bot.txt").exists()
    _assert_views(result)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_attach_to_a_missing_process_says_so(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    if pyspy.attach_permitted()[0]:
        with pytest.raises(pyspy.ProfilingError, match=f"no process with pid {gone.pid}"):
            pyspy.record(gone.pid, tmp_path, 1)


@pytest.mark.parametrize(
    ("euid", "cap", "scope", "allowed", "words"),
    [
        (0, "0", 1, True, "root"),
        (1000, "0000000000080000", 1, True, "CAP_SYS_PTRACE"),
        (1000, "0", 0, True, "ptrace_scope is 0"),
        (1000, "0", 1, False, "--cap-add SYS_PTRACE"),
        (0, "0", 3, False, "ptrace_scope is 3"),
    ],
)
def test_attach_permission_reasons(euid: int, cap: str, scope: int, allowed: bool, words: str) -> None:
    ok, why = pyspy.attach_verdict(euid, cap, scope)
    assert ok is allowed and words in why


@can_attach
def test_profiles_in_a_run_folder_reach_the_report(busy, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    pyspy.record(busy.pid, run / "profiles" / "peak-day0", duration=1).wait(60)
    pyspy.record(busy.pid, run / "profiles" / "peak-day1", duration=1).wait(60)
    report = build_report(run)
    windows = [p.window for p in report.data.profiles]
    assert windows == ["peak-day0", "peak-day1"]
    assert report.data.profiles[0].hot[0].function.startswith("burn_cpu")
    [window_diff] = report.data.profile_diffs
    assert (window_diff.before, window_diff.after) == ("peak-day0", "peak-day1")
    html = report.html_path.read_text()
    assert "Hot functions (py-spy)" in html and 'href="profiles/peak-day0/bot.svg"' in html
    assert "burn_cpu" in report.md_path.read_text()


def test_cli_top_and_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, after = tmp_path / "a.txt", tmp_path / "b.txt"
    before.write_text("main (app.py:1);parse (app.py:5) 80\nmain (app.py:1);render (app.py:9) 20\n")
    after.write_text("main (app.py:1);parse (app.py:5) 30\nmain (app.py:1);render (app.py:9) 70\n")
    assert main(["profile", "top", str(before)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert out.splitlines()[1].split() == ["80.0%", "80.0%", "parse", "(app.py)"]
    assert main(["profile", "diff", str(before), str(after)]) == ExitCode.OK
    assert capsys.readouterr().out.splitlines()[1].endswith("render (app.py)")
    (tmp_path / "bad.txt").write_text("not a stack line\n")
    assert main(["profile", "top", str(tmp_path / "bad.txt")]) == ExitCode.USAGE
    assert "bad.txt:1" in capsys.readouterr().err
    assert main(["profile", "record", "--out", str(tmp_path)]) == ExitCode.USAGE
