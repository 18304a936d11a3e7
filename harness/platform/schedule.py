"""The emulator plays a fault schedule itself: `[faults] schedule` entries, or a POST's, in real time."""

from __future__ import annotations

import asyncio
import logging

from harness.core.faults import Faults, FaultTimeline, ScheduledFault

log = logging.getLogger("harness.platform")


class FaultSchedule:
    """Plays entries on a clock that reads Monday 00:00 at run() (so `at = 30` is 30 s later)."""

    def __init__(self, faults: Faults, entries: list[ScheduledFault], where: str = "faults.schedule") -> None:
        self.faults = faults
        self.timeline = FaultTimeline(entries, where)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while (at := self.timeline.next_at()) is not None:
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            for step in self.timeline.due(lambda t: start + t <= loop.time()):
                changes = self.timeline.changes(step, self.faults.as_dict())
                self.faults.update(changes)
                log.info("fault schedule %s applied %s", step.label, changes)
