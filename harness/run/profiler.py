"""The scenario's `[[profiling]]` windows: py-spy attached to components at simulated times.

Recordings go to profiles/<window>/<component>.* through harness.profiling.pyspy (which also explains
when attaching is not permitted); a failed recording is a warning in the manifest, never an abort.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.core.scenario.schema import ProfilingWindow
from harness.core.simclock import parse_sim
from harness.core.timemap import TimeMap
from harness.profiling import pyspy

log = logging.getLogger("harness.run")


def window_name(at: str) -> str:
    """'Tue 10:00' -> 'Tue-1000' (a folder name that sorts within a day)."""
    return at.replace(":", "").replace(" ", "-")


class ProfilingSchedule:
    def __init__(
        self,
        windows: list[ProfilingWindow],
        profiles_dir: Path,
        pids: Callable[[str], int | None],
        on_done: Callable[[dict[str, Any]], None],
        on_warning: Callable[[str], None],
    ):
        self.pending = sorted(windows, key=lambda w: parse_sim(w.at))
        self.profiles_dir = profiles_dir
        self.pids = pids
        self.on_done = on_done
        self.on_warning = on_warning
        self.running: list[tuple[str, Any]] = []

    def tick(self, timemap: TimeMap, wall: float) -> None:
        while self.pending and timemap.wall_at(parse_sim(self.pending[0].at)) <= wall:
            self._start(self.pending.pop(0))
        for item in list(self.running):
            name, recording = item
            if recording.poll() is not None:
                self.running.remove(item)
                self._finish(name, recording.wait)

    def _start(self, window: ProfilingWindow) -> None:
        name = window_name(window.at)
        for component in window.components:
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
        """End recordings still running (the run is ending): keep what they sampled."""
        for name, recording in self.running:
            self._finish(name, recording.stop)
        self.running.clear()
