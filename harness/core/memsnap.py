"""Memory snapshots a Python process opts into: tracemalloc's top allocation sites as JSON, on a signal.

No debugger attaches (ptrace is often forbidden in containers, and attaching stops the process): the
process itself takes the snapshot. Opting in is one call at start-up, `install_from_env()`; it does
nothing unless the harness set `MEMORY_SNAPSHOT_ENV` to a folder. Then tracemalloc traces every
allocation from that moment (one frame each: the line that allocated), and each `MEMORY_SNAPSHOT_SIGNAL`
writes `snapshot-<n>.json` (n = 1, 2, ...) into the folder, atomically (written aside, then renamed):

    {"pid": ..., "taken_at": <unix s>, "seq": n, "traced_bytes": ..., "traced_peak_bytes": ...,
     "paused_s": ..., "summed_s": ...,
     "sites": [{"file": ..., "line": ..., "function": ..., "size": <bytes>, "count": <blocks>}, ...]}

A bot that cannot import harness implements the same contract itself (docs/run-folder.md). Tracing
makes allocation-heavy code several times slower (docs/run-folder.md "Memory snapshots"), which is
why the harness only asks for it when a scenario's profiling window says `memory = true`.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import signal
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from harness.core.contract import MEMORY_SNAPSHOT_ENV, MEMORY_SNAPSHOT_SIGNAL

TOP_SITES = 50  # sites per snapshot: enough for the top growers between two snapshots


@functools.lru_cache(maxsize=512)
def _function_spans(filename: str) -> tuple[tuple[int, int, str], ...]:
    """(first line, last line, qualified name) of every function in a source file; () if unreadable."""
    try:
        tree = ast.parse(Path(filename).read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return ()
    spans: list[tuple[int, int, str]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    spans.append((child.lineno, child.end_lineno or child.lineno, name))
                walk(child, f"{name}.")
            else:
                walk(child, prefix)

    walk(tree, "")
    return tuple(spans)


def function_at(filename: str, line: int) -> str:
    """The innermost function (Class.method) holding `line`; "<module>" outside any."""
    best = None
    for first, last, name in _function_spans(filename):
        if first <= line <= last and (best is None or first >= best[0]):
            best = (first, name)
    return best[1] if best else "<module>"


def snapshot_sites(snapshot: tracemalloc.Snapshot, limit: int = TOP_SITES) -> dict[str, Any]:
    """A snapshot's traced memory by allocating line, largest first (tracemalloc's own lines left out)."""
    sites = []
    for stat in snapshot.statistics("lineno"):
        frame = stat.traceback[0]
        if frame.filename == tracemalloc.__file__:
            continue
        sites.append(
            {
                "file": frame.filename,
                "line": frame.lineno,
                "function": function_at(frame.filename, frame.lineno),
                "size": stat.size,
                "count": stat.count,
            }
        )
        if len(sites) == limit:
            break
    return {"pid": os.getpid(), "sites": sites}


class SnapshotWriter:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seq = 0
        self._lock = threading.Lock()

    def take(self) -> threading.Thread:
        """Copy the traces now (C code, quick) and sum them up by line in a thread: the grouping is
        Python code over every live block, seconds in a big process, and must not stop its event loop
        for that long (the thread shares the interpreter, so the loop still runs between its slices)."""
        started = time.perf_counter()
        snapshot = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        header = {
            "taken_at": time.time(),
            "paused_s": round(time.perf_counter() - started, 3),  # the copy stopped the process this long
            "traced_bytes": current,
            "traced_peak_bytes": peak,
        }
        thread = threading.Thread(target=self._write, args=(snapshot, header), name="memory-snapshot", daemon=True)
        thread.start()
        return thread

    def _write(self, snapshot: tracemalloc.Snapshot, header: dict[str, Any]) -> None:
        with self._lock:  # one at a time, numbered in the order they were asked for
            started = time.perf_counter()
            self.seq += 1
            data = {**snapshot_sites(snapshot), **header, "seq": self.seq}
            data["summed_s"] = round(time.perf_counter() - started, 3)
            final = self.folder / f"snapshot-{self.seq}.json"
            aside = final.with_suffix(".json.part")
            aside.write_text(json.dumps(data))
            aside.replace(final)  # the harness only ever sees whole files


def install_from_env(env: dict[str, str] | None = None) -> SnapshotWriter | None:
    """Start tracing and answer the snapshot signal when the harness asked for it; else do nothing.
    Call it early (tracemalloc only sees allocations made after it starts) from the main thread."""
    folder = (os.environ if env is None else env).get(MEMORY_SNAPSHOT_ENV, "")
    if not folder:
        return None
    writer = SnapshotWriter(Path(folder))
    writer.folder.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(1)
    # A plain handler, not the event loop's: it runs in the main thread between bytecodes, so a
    # process whose loop is blocked still answers (that is when a snapshot matters most).
    signal.signal(getattr(signal, MEMORY_SNAPSHOT_SIGNAL), lambda _signum, _frame: writer.take())
    return writer
