import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.core.runfolder.jsonlines import JsonLinesWriter
from harness.core.runfolder.writer import Manifest, new_run_dir
from harness.run.processes import Component
from harness.run.sampler import Sampler

pytestmark = pytest.mark.integration

BUSY_WITH_CHILD = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "end = time.time() + 60\n"
    "while time.time() < end:\n"
    "    pass\n"
)


def test_component_stop_ends_its_whole_process_group(tmp_path: Path):
    comp = Component("busy", [sys.executable, "-c", BUSY_WITH_CHILD], tmp_path / "busy.log", stop_grace_s=5)
    comp.start()
    try:
        deadline = time.monotonic() + 10
        proc = psutil.Process(comp.pid)
        while not proc.children() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = proc.children()[0]
        assert not comp.died()
    finally:
        code = comp.stop()
    assert code == -signal.SIGTERM
    child.wait(5)  # the grandchild went with the group
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_component_death_is_noticed_unless_asked(tmp_path: Path):
    comp = Component("quick", [sys.executable, "-c", "raise SystemExit(7)"], tmp_path / "q.log")
    comp.start()
    comp.process.wait(10)
    assert comp.died() and comp.exit_code() == 7
    comp.stop()
    assert not comp.died()


def test_sampler_measures_a_busy_component_and_exports_node_names(tmp_path: Path):
    comp = Component("busy", [sys.executable, "-c", BUSY_WITH_CHILD], tmp_path / "busy.log", stop_grace_s=5)
    comp.start()
    out = JsonLinesWriter(tmp_path / "samples.jsonl")
    sampler = Sampler(out, 0.5, lambda: (1.0, 36000.0))
    tree = psutil.Process(comp.pid)

    def tree_cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in (tree, *tree.children(recursive=True)))

    try:
        sampler.watch("busy", comp.pid)
        url = sampler.serve()
        # the sampler's interval lies between outer and inner brackets of CPU seconds and wall time, so its
        # figure is bounded by both, however loaded the machine is
        outer_cpu, outer_t = tree_cpu(), time.monotonic()
        sampler.sample_once()
        inner_cpu, inner_t = tree_cpu(), time.monotonic()
        time.sleep(1.0)  # the measured interval, not a synchronisation
        inner_cpu_end, inner_t_end = tree_cpu(), time.monotonic()
        line = sampler.sample_once()
        outer_cpu_end, outer_t_end = tree_cpu(), time.monotonic()
        with urllib.request.urlopen(url, timeout=5) as response:
            families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}
    finally:
        comp.stop()
        sampler.shutdown_server()
        out.close()
    busy = line["procs"]["busy"]
    burnt = inner_cpu_end - inner_cpu
    assert burnt > 0.05, f"the busy loop got {burnt:.3f} CPU seconds in a second"
    low, high = burnt / (outer_t_end - outer_t), (outer_cpu_end - outer_cpu) / (inner_t_end - inner_t)
    assert low - 0.01 <= busy["cpu"] <= high + 0.01, (low, busy["cpu"], high)  # 0.01: the line's rounding
    assert busy["rss"] > 1e6 and busy["threads"] >= 2  # parent and child summed
    assert 0 < line["host"]["cpu"] <= 1 and 0 < line["host"]["mem"] < 1 and line["sim"] == 36000.0
    assert {
        "node_cpu_seconds",
        "node_memory_MemTotal_bytes",
        "node_memory_MemAvailable_bytes",
        "harness_process_cpu_seconds",
        "harness_process_resident_memory_bytes",
    } <= set(families)
    cpu = [s for s in families["harness_process_cpu_seconds"].samples if s.labels.get("component") == "busy"]
    assert cpu and cpu[0].value > 0.3
    assert json.loads((tmp_path / "samples.jsonl").read_text().splitlines()[-1])["procs"]["busy"]["cpu"] > 0.3


def test_run_folder_layout_and_manifest(tmp_path: Path):
    run = new_run_dir("week", tmp_path)
    again = new_run_dir("week", tmp_path)
    assert run != again and run.name.endswith("-week")
    assert {p.name for p in run.iterdir()} == {"logs", "locust", "prometheus", "profiles"}
    manifest = Manifest(run / "manifest.json", scenario="week")
    manifest.component("bot", pid=1)
    manifest.warn("w")
    manifest.warn("w")
    data = json.loads((run / "manifest.json").read_text())
    assert data["status"] == "running" and data["components"]["bot"]["pid"] == 1 and data["warnings"] == ["w"]


def test_sampler_names_a_busy_process_outside_the_run(tmp_path: Path):
    """A CPU hog the run did not start is not a component: the sample's `others` sums it and names it
    by name and pid, so that rig health can say who filled the host."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass", "--password", "hunter2"])
    out = JsonLinesWriter(tmp_path / "samples.jsonl")
    sampler = Sampler(out, 0.5, lambda: (1.0, 36000.0))
    try:
        sampler.watch("harness", os.getpid(), with_children=False)
        sampler.sample_once()
        deadline = time.monotonic() + 10
        line = sampler.sample_once()
        while not any(p["pid"] == hog.pid for p in line["others"]["top"]) and time.monotonic() < deadline:
            time.sleep(0.5)
            line = sampler.sample_once()
    finally:
        hog.kill()
        hog.wait(10)
        out.close()
    [named] = [p for p in line["others"]["top"] if p["pid"] == hog.pid]
    assert named["name"].startswith("python") and named["cpu"] > 0.2
    assert "while True: pass" in named["cmd"] and "hunter2" not in named["cmd"]  # what it runs, secrets masked
    assert line["others"]["cpu"] >= named["cpu"]
    assert os.getpid() not in {p["pid"] for p in line["others"]["top"]}  # a run component is not an "other"
