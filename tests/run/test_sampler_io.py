"""The sampler's storage I/O figures, on a real process tree that writes a file in tmp: the deltas per
sample and the exporter's counters, summed over the tree, and how blocked-on-I/O time is offered."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.core.runfolder.jsonlines import JsonLinesWriter
from harness.run import sampler as sampler_module
from harness.run.sampler import Sampler, blocked_on_io_offered

pytestmark = pytest.mark.integration

LINES = 100
LINE = "x" * 199 + "\n"  # 200 bytes, a log line's size
PAGE = 4096

# The component: a parent that starts the writer as its child (the tree is what gets summed). The writer
# waits for "go" on stdin, appends LINES lines (fsynced one by one when asked), says "done", waits.
WRITER = (
    "import os, sys\n"
    "path, synced = sys.argv[1], sys.argv[2] == '1'\n"
    "sys.stdin.readline()\n"
    "fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)\n"
    f"for _ in range({LINES}):\n"
    f"    os.write(fd, {LINE!r}.encode())\n"
    "    if synced:\n"
    "        os.fsync(fd)\n"
    "os.close(fd)\n"
    "print('done', flush=True)\n"
    "sys.stdin.readline()\n"
)
PARENT = (
    "import subprocess, sys\n"
    "child = subprocess.Popen([sys.executable, '-c', sys.argv[1], *sys.argv[2:]])\n"
    "sys.exit(child.wait())\n"
)


def _on_tmpfs(path: Path) -> bool:
    best = max(
        (p for p in psutil.disk_partitions(all=True) if str(path).startswith(p.mountpoint)),
        key=lambda p: len(p.mountpoint),
    )
    return best.fstype in ("tmpfs", "ramfs")


@contextmanager
def writer_tree(tmp_path: Path, synced: bool) -> Iterator[subprocess.Popen[str]]:
    if _on_tmpfs(tmp_path):
        pytest.skip("tmp is a tmpfs: its writes never reach a block device, so there is nothing to count")
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, WRITER, str(tmp_path / "out.log"), "1" if synced else "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        try:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for member in tree:
            member.kill()
        psutil.wait_procs(tree, timeout=10)
        proc.wait(10)


def _write_and_sample(tmp_path: Path, synced: bool) -> tuple[dict, dict, Sampler]:
    out = JsonLinesWriter(tmp_path / "samples.jsonl")
    sampler = Sampler(out, 0.5, lambda: (1.0, 36000.0))
    with writer_tree(tmp_path, synced) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        sampler.watch("writer", proc.pid)
        sampler.sample_once()  # the baseline: what the tree did while starting
        before = dict(sampler.components["writer"].io_total)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done"
        line = sampler.sample_once()
        url = sampler.serve()
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}
        finally:
            sampler.shutdown_server()
            out.close()
    totals = sampler.components["writer"].io_total
    delta = {key: totals[key] - before[key] for key in totals}
    return line, {"delta": delta, "families": families}, sampler


def test_synced_lines_each_cost_a_page_of_storage_writes(tmp_path: Path) -> None:
    line, seen, sampler = _write_and_sample(tmp_path, synced=True)
    delta = seen["delta"]
    assert delta["write_chars"] >= LINES * len(LINE)  # the writer's own bytes, from the child: the tree is summed
    assert delta["write_bytes"] >= LINES * PAGE * 0.9  # every fsync forced a page to disk
    assert delta["write_bytes"] / delta["write_chars"] > 10
    writer = line["procs"]["writer"]
    assert writer["io_write_bps"] > 0 and writer["io_write_bps"] / writer["io_wchar_bps"] > 10
    assert writer["io_read_bps"] >= 0
    exported = {
        s.name: s.value
        for s in seen["families"]["harness_process_io_write_bytes"].samples
        if s.labels.get("component") == "writer"
    }
    assert exported["harness_process_io_write_bytes_total"] >= LINES * PAGE * 0.9
    host = line["host"]
    assert 0 <= host["iowait"] <= 1 and 0 <= host["disk_busy"] <= 1 and host["disk"]
    assert {"node_disk_io_time_seconds", "node_disk_written_bytes", "harness_process_io_written_chars"} <= set(
        seen["families"]
    )
    offered, _ = blocked_on_io_offered()
    assert ("io_blocked" in writer) is offered
    assert ("harness_process_io_blocked_seconds" in seen["families"]) is offered
    assert sampler.overhead()["io_blocked"] == blocked_on_io_offered()[1]


def test_buffered_lines_reach_storage_about_once(tmp_path: Path) -> None:
    _, seen, _ = _write_and_sample(tmp_path, synced=False)
    delta = seen["delta"]
    assert delta["write_chars"] >= LINES * len(LINE)
    # counted when pages are first dirtied: the 20 kB of lines fill 5 or 6 pages, not 100
    assert delta["write_bytes"] <= delta["write_chars"] + 2 * PAGE


@pytest.mark.parametrize(
    ("content", "offered", "says"),
    [
        ("1\n", True, "delay accounting"),
        ("0\n", False, "not offered: delay accounting is off"),
        (None, False, "absent"),
    ],
)
def test_blocked_time_is_offered_only_with_delay_accounting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, offered: bool, says: str
) -> None:
    switch = tmp_path / "task_delayacct"
    if content is not None:
        switch.write_text(content)
    monkeypatch.setattr(sampler_module, "DELAYACCT_SWITCH", switch)
    got, why = blocked_on_io_offered()
    assert got is offered and says in why
