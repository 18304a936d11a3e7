"""The scenario's `[[profiling]]` windows: py-spy attached to components at simulated times.

Recordings go to profiles/<window>/<component>.* through harness.profiling.pyspy (which also explains
when attaching is not permitted); a failed recording is a warning in the manifest, never an abort.

A window with `memory = true` also asks each of its components for a memory snapshot
(harness.core.memsnap): components named in such a window start with `MEMORY_SNAPSHOT_ENV` set to
memory/<component>/ in the run folder. A process that opted in creates that folder; only then is it
sent the snapshot signal (to a process that did not opt in, the signal's default is to end it). The
snapshot it writes there is filed as profiles/<window>/<component>.memory.json.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.contract import MEMORY_SNAPSHOT_ENV, MEMORY_SNAPSHOT_SIGNAL, MEMORY_SNAPSHOT_TIMEOUT_S
from harness.core.scenario.schema import ProfilingWindow
from harness.core.simclock import parse_sim
from harness.core.timemap import TimeMap
from harness.profiling import pyspy

log = logging.getLogger("harness.run")


def window_name(at: str) -> str:
    """'Tue 10:00' -> 'Tue-1000' (a folder name that sorts within a day)."""
    return at.replace(":", "").replace(" ", "-")


@dataclass
class SnapshotRequest:
    window: str
    component: str
    deadline: float  # time.monotonic()


class ProfilingSchedule:
    def __init__(
        self,
        windows: list[ProfilingWindow],
        profiles_dir: Path,
        pids: Callable[[str], int | None],
        on_done: Callable[[dict[str, Any]], None],
        on_warning: Callable[[str], None],
        memory_dir: Path | None = None,
        on_snapshot: Callable[[dict[str, Any]], None] = lambda _entry: None,
    ):
        self.pending = sorted(windows, key=lambda w: parse_sim(w.at))
        self.profiles_dir = profiles_dir
        self.pids = pids
        self.on_done = on_done
        self.on_warning = on_warning
        self.memory_dir = memory_dir if memory_dir is not None else profiles_dir.parent / "memory"
        self.on_snapshot = on_snapshot
        self.running: list[tuple[str, Any]] = []
        self.snapshots: list[SnapshotRequest] = []
        self.memory_components = {c for w in windows if w.memory for c in w.components}

    def snapshot_env(self, component: str) -> dict[str, str]:
        """The environment that opts `component` into memory snapshots, when a window asks for them."""
        return self.snapshot_env_for(component) if component in self.memory_components else {}

    def snapshot_env_for(self, component: str) -> dict[str, str]:
        return {MEMORY_SNAPSHOT_ENV: str(self.memory_dir / component)}

    def tick(self, timemap: TimeMap, wall: float) -> None:
        while self.pending and timemap.wall_at(parse_sim(self.pending[0].at)) <= wall:
            self._start(self.pending.pop(0))
        for item in list(self.running):
            name, recording = item
            if recording.poll() is not None:
                self.running.remove(item)
                self._finish(name, recording.wait)
        self.collect_snapshots()

    def request_snapshot(self, name: str, component: str, pid: int) -> None:
        folder = self.memory_dir / component
        if not folder.is_dir():
            self.on_warning(
                f"memory snapshot {name} {component}: the process did not opt in ({MEMORY_SNAPSHOT_ENV}, "
                "docs/run-folder.md 'Memory snapshots')"
            )
            return
        try:
            os.kill(pid, getattr(signal, MEMORY_SNAPSHOT_SIGNAL))
        except OSError as exc:
            self.on_warning(f"memory snapshot {name} {component}: cannot signal pid {pid}: {exc.strerror}")
            return
        self.snapshots.append(SnapshotRequest(name, component, time.monotonic() + MEMORY_SNAPSHOT_TIMEOUT_S))

    def collect_snapshots(self) -> None:
        """File each snapshot a process has written since it was asked, oldest request first."""
        for request in list(self.snapshots):
            written = sorted(
                (self.memory_dir / request.component).glob("snapshot-*.json"),
                key=lambda p: int(p.stem.rpartition("-")[2]),
            )
            if written:
                target = self.profiles_dir / request.window / f"{request.component}.memory.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                written[0].replace(target)
                self.snapshots.remove(request)
                self.on_snapshot(
                    {
                        "window": request.window,
                        "component": request.component,
                        "file": str(target.relative_to(self.profiles_dir.parent)),
                    }
                )
            elif time.monotonic() > request.deadline:
                self.snapshots.remove(request)
                self.on_warning(
                    f"memory snapshot {request.window} {request.component}: none written within "
                    f"{MEMORY_SNAPSHOT_TIMEOUT_S:.0f} s"
                )

    def _start(self, window: ProfilingWindow) -> None:
        name = window_name(window.at)
        for component in window.components:
            if window.memory and (pid := self.pids(component)) is not None:
                self.request_snapshot(name, component, pid)
            pid = self.pids(component)
            if pid is None:
                self.on_warning(f"profiling {name}: no running component {component!r}")
                continue
            try:
                recording = pyspy.record(
                    pid, self.profiles_dir / name, window.seconds, component=component, idle=window.idle
                )
            except pyspy.ProfilingError as exc:
                self.on_warning(f"profiling {name} {component}: {exc}")
                continue
            log.info("profiling %s for %.0f s (window %s)", component, window.seconds, name)
            self.running.append((name, recording))

    def _finish(self, name: str, finish: Callable[..., Any]) -> None:
        try:
            result = finish()
        except pyspy.ProfilingError as exc:
            self.on_warning(f"profiling {name}: {exc}")
            return
        self.on_done({"window": name, "component": result.component, "mode": result.mode, "samples": result.samples})

    def stop(self) -> None:
        """End recordings still running (the run is ending): keep what they sampled; wait for the
        memory snapshots asked for (the processes still run), each at most until its deadline."""
        for name, recording in self.running:
            self._finish(name, recording.stop)
        self.running.clear()
        while self.snapshots:  # asked-for snapshots are still being written: wait for them, bounded
            self.collect_snapshots()  # (each request drops out once filed or past its deadline)
            if self.snapshots:
                time.sleep(0.1)
