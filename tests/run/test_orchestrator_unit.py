import io
import json
import shutil
from pathlib import Path

import pytest

from harness.core.scenario.config import parse_scenario
from harness.run.orchestrator import GENERATOR_CPU_SAMPLES, Run, RunOptions

pytestmark = pytest.mark.unit


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
