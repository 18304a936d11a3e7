"""Things the orchestrator does on a timer while the run plays: ledger snapshots and the faults schedule."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.core.runfolder.jsonlines import JsonLinesWriter
from harness.core.scenario.schema import Fault
from harness.core.simclock import parse_sim
from harness.core.timemap import TimeMap

log = logging.getLogger("harness.run")


def http_json(url: str, body: Any = None, timeout: float = 3.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="GET" if body is None else "POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


class LedgerPoller:
    def __init__(self, platform_url: str, out: JsonLinesWriter, clock: Callable[[], tuple[float | None, float | None]]):
        self.url = platform_url.rstrip("/") + "/admin/ledger"
        self.out = out
        self.clock = clock
        self.last: dict[str, Any] | None = None

    def poll(self) -> dict[str, Any] | None:
        try:
            ledger = http_json(self.url)
        except (OSError, ValueError):
            return None
        wall, sim = self.clock()
        self.out.write({"wall": wall, "sim": sim, "ledger": ledger})
        self.last = ledger
        return ledger


@dataclass
class FaultStep:
    sim: float
    changes: dict[str, Any]
    label: str
    revert_keys: tuple[str, ...] = ()  # for an `until`: restore these keys to their values before `at`


class FaultScheduler:
    """Applies `[[faults]]` at their simulated times through the emulator's POST /admin/faults."""

    def __init__(self, platform_url: str, faults: list[Fault], on_applied: Callable[[dict[str, Any]], None]):
        self.url = platform_url.rstrip("/") + "/admin/faults"
        self.on_applied = on_applied
        steps: list[FaultStep] = []
        for i, fault in enumerate(faults):
            steps.append(FaultStep(parse_sim(fault.at), fault.set, f"faults[{i}] at {fault.at}"))
            if fault.until:
                steps.append(
                    FaultStep(parse_sim(fault.until), {}, f"faults[{i}] until {fault.until}", tuple(fault.set))
                )
        self.steps = sorted(steps, key=lambda s: s.sim)
        self.saved: dict[str, Any] = {}

    def due(self, timemap: TimeMap, wall: float) -> list[FaultStep]:
        ready = [s for s in self.steps if timemap.wall_at(s.sim) <= wall]
        self.steps = [s for s in self.steps if s not in ready]
        return ready

    def tick(self, timemap: TimeMap, wall: float, sim: float) -> None:
        for step in self.due(timemap, wall):
            changes = {k: self.saved.get(k) for k in step.revert_keys} if step.revert_keys else step.changes
            if not step.revert_keys:
                current = http_json(self.url)
                self.saved.update({k: current.get(k) for k in step.changes})
            answer = http_json(self.url, changes)
            self.on_applied({"wall": wall, "sim": sim, "step": step.label, "set": changes, "faults": answer})
            log.info("fault %s: %s", step.label, json.dumps(changes))
