"""Things the orchestrator does on a timer while the run plays: ledger snapshots and the faults schedule."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

from harness.core.faults import FaultStep, FaultTimeline, ScheduledFault
from harness.core.runfolder.jsonlines import JsonLinesWriter
from harness.core.timemap import TimeMap

log = logging.getLogger("harness.run")


def http_json(url: str, body: Any = None, timeout: float = 3.0, token: str = "") -> Any:
    """GET (or POST `body`) JSON; `token`: the emulator's admin token, sent as a bearer token."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


class LedgerPoller:
    def __init__(
        self,
        platform_url: str,
        out: JsonLinesWriter,
        clock: Callable[[], tuple[float | None, float | None]],
        token: str = "",
    ):
        self.url = platform_url.rstrip("/") + "/admin/ledger"
        self.out = out
        self.clock = clock
        self.token = token
        self.last: dict[str, Any] | None = None

    def poll(self) -> dict[str, Any] | None:
        try:
            ledger = http_json(self.url, token=self.token)
        except (OSError, ValueError):
            return None
        wall, sim = self.clock()
        self.out.write({"wall": wall, "sim": sim, "ledger": ledger})
        self.last = ledger
        return ledger


class FaultScheduler:
    """Plays the scenario's `[[faults]]` on its simulated week: switches through the emulator's POST
    /admin/faults, process faults through `on_process` (replicas.py)."""

    def __init__(
        self,
        platform_url: str,
        faults: list[ScheduledFault],
        on_applied: Callable[[dict[str, Any]], None],
        token: str = "",
        on_process: Callable[[FaultStep], object] | None = None,
    ) -> None:
        self.url = platform_url.rstrip("/") + "/admin/faults"
        self.on_applied = on_applied
        self.token = token
        self.on_process = on_process
        self.timeline = FaultTimeline(faults)

    def tick(self, timemap: TimeMap, wall: float, sim: float) -> None:
        for step in self.timeline.due(lambda at_s: timemap.wall_at(at_s) <= wall):
            if step.process:
                if self.on_process is not None:
                    self.on_process(step)
                continue
            changes = self.timeline.changes(step, {} if step.revert_keys else http_json(self.url, token=self.token))
            answer = http_json(self.url, changes, token=self.token)
            self.on_applied({"wall": wall, "sim": sim, "step": step.label, "set": changes, "faults": answer})
            log.info("fault %s: %s", step.label, json.dumps(changes))
