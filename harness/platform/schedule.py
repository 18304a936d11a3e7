"""Timed fault changes inside the emulator: `[[faults.schedule]]` entries applied while it runs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from harness.core.faults import FaultError, Faults, number

log = logging.getLogger("harness.platform")


class FaultSchedule:
    """Applies timed fault changes: [{"at_s": 30, "set": {...}}, ...], relative to start()."""

    def __init__(self, faults: Faults, entries: Any, where: str = "faults.schedule") -> None:
        if not isinstance(entries, list):
            raise FaultError(f"{where}: must be a list of {{at_s, set}}")
        self.faults = faults
        self.entries: list[tuple[float, dict[str, Any]]] = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or set(entry) != {"at_s", "set"}:
                raise FaultError(f"{where}[{i}]: must have exactly at_s and set")
            at = number(f"{where}[{i}].at_s", entry["at_s"], 0.0, None)
            Faults().update(entry["set"], f"{where}[{i}].set")  # validate now, apply later
            self.entries.append((at, entry["set"]))
        self.entries.sort(key=lambda e: e[0])

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for at, changes in self.entries:
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            self.faults.update(changes)
            log.info("fault schedule at %.1f s applied %s", at, changes)
