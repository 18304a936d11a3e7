import io
import json
import shutil
import signal
import stat
import sys
from pathlib import Path

import pytest

from harness.core.contract import ExitCode
from harness.core.scenario.config import parse_scenario
from harness.run.orchestrator import GENERATOR_CPU_SAMPLES, Run, RunOptions

FAKE_PROMETHEUS = Path(__file__).with_name("fake_prometheus.py")

# mostly pure, but one test starts a stand-in Prometheus process
pytestmark = pytest.mark.integration


def make_run(tmp_path: Path) -> Run:
    return Run(parse_scenario({}, "unit"), RunOptions(runs_dir=tmp_path, out=io.StringIO()))


def test_generator_cpu_above_90_percent_warns_once_and_flags_the_run(tmp_path: Path):
    run = make_run(tmp_path)
    try:
        run.sampler.latest = {"loadgen-worker-1": {"cpu": 0.97}, "bot": {"cpu": 1.0}}
        for _ in range(GENERATOR_CPU_SAMPLES - 1):
            run._watch_generator_cpu()
        assert "generator_bound" not in run.manifest.data  # a single busy second is not a verdict
        for _ in range(3):
            run._watch_generator_cpu()
        manifest = json.loads((run.run_dir / "manifest.json").read_text())
        assert manifest["generator_bound"] is True and len(manifest["warnings"]) == 1
        assert "loadgen-worker-1" in manifest["warnings"][0]
        assert run.options.out.getvalue().count("warning:") == 1
    finally:
        shutil.rmtree(run.ready_dir, ignore_errors=True)


def test_run_folder_starts_with_resolved_scenario_and_manifest(tmp_path: Path):
    run = make_run(tmp_path)
    try:
        manifest = json.loads((run.run_dir / "manifest.json").read_text())
        assert manifest["status"] == "running" and manifest["scenario"] == "unit"
        assert manifest["thresholds"]["p99_latency_seconds"] == 0.5 and manifest["planned_wall_s"] > 300
        assert (run.run_dir / "scenario.toml").read_text().startswith('name = "unit"')
        assert run.app_secret not in (run.run_dir / "manifest.json").read_text()
    finally:
        shutil.rmtree(run.ready_dir, ignore_errors=True)


def test_prometheus_without_the_shipped_rules_fails_the_run_as_a_harness_error(tmp_path: Path):
    """A Prometheus (a stand-in serving real HTTP) that loaded one rule file of several: the run ends
    with HARNESS_ERROR, a one-line reason naming the missing groups, and a report that does not say
    "No alert fired"."""
    binary = tmp_path / "prometheus"
    binary.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE_PROMETHEUS} "$@"\n')
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    scenario = parse_scenario({"monitoring": {"alertmanager": "no-such-alertmanager"}}, "unit")
    run = Run(scenario, RunOptions(runs_dir=tmp_path / "runs", prometheus=str(binary), out=io.StringIO()))
    run._start = lambda: run._start_prometheus({})  # only the Prometheus part of the start-up
    code = run.execute()
    assert code == ExitCode.HARNESS_ERROR
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    rules = manifest["prometheus"]["rules"]
    assert 0 < rules["rules_loaded"] < rules["rules_shipped"] and rules["missing"]
    reason = manifest["abort_reason"]
    assert reason.startswith("harness error: Prometheus loaded") and "\n" not in reason
    assert all(group in reason for group in rules["missing"])
    assert manifest["components"]["prometheus"]["exit_code"] is not None  # stopped, not left running
    report = (run.run_dir / "report.md").read_text()
    assert "No alert fired" not in report and "Alerts were not evaluated" in report


@pytest.mark.parametrize("started", [False, True])
def test_report_says_alerts_were_not_evaluated_when_prometheus_did_not_run(tmp_path: Path, started: bool):
    run = make_run(tmp_path)
    run._start = lambda: None
    if started:  # a manifest as a run leaves it when Prometheus answered with no rules
        run.manifest.update(prometheus={"available": True, "rules": {"rules_loaded": 0, "rules_shipped": 40}})
    run.execute()
    report = (run.run_dir / "report.md").read_text()
    assert "No alert fired" not in report and "Alerts were not evaluated" in report


@pytest.mark.parametrize(
    ("signum", "reason"),
    [(signal.SIGTERM, "interrupted by SIGTERM"), (signal.SIGINT, "interrupted by SIGINT (Ctrl-C)")],
)
def test_a_stop_signal_is_recorded_by_its_name(tmp_path: Path, signum: int, reason: str):
    run = make_run(tmp_path)

    def start() -> None:
        signal.raise_signal(signum)  # delivered to the run's own handler, as `kill` would
        run._check_alive()

    run._start = start
    assert run.execute() == ExitCode.ABORTED
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "aborted" and manifest["abort_reason"] == reason
    assert signal.getsignal(signum) is not run._on_signal  # the previous handler is back
