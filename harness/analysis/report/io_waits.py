"""Storage I/O from samples.jsonl: per component read / write rates, blocked-on-I/O share where the
kernel counts it, the host's iowait and the busiest disk's busy share (docs/report.md "I/O").

Rates are judged like CPU, on the highest mean over a sliding window of wall time, here
contract.IO_WAIT.span_s: a log fsynced line by line is a steady cost, a one-off burst (start-up,
a snapshot) is not. The write amplification is taken over the span of the write peak, from the same
samples, so that it describes the writes that made the peak.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from harness.analysis.report.model import ComponentIo, IoSummary
from harness.analysis.report.resources import SlidingPeak
from harness.analysis.report.rig import SlidingMean
from harness.core.contract import IO_WAIT
from harness.core.runfolder.reader import RunFolder

NOT_RECORDED = "not recorded (the manifest does not say how the sampler measured it)"


@dataclass
class _ComponentIo:
    read: SlidingPeak = field(default_factory=lambda: SlidingPeak(IO_WAIT.span_s))
    write: SlidingPeak = field(default_factory=lambda: SlidingPeak(IO_WAIT.span_s))
    wchar: SlidingMean = field(default_factory=lambda: SlidingMean(IO_WAIT.span_s))
    blocked: SlidingPeak | None = None
    amplification: float | None = None  # storage / write calls over the write peak's span
    _best: float | None = None
    _totals: list[float] = field(default_factory=lambda: [0.0, 0.0])  # write, wchar over the whole run

    def add(self, wall: float, sim: float, proc: dict) -> None:
        self.read.add(wall, sim, float(proc.get("io_read_bps") or 0.0))
        write = self.write.add(wall, sim, float(proc.get("io_write_bps") or 0.0))
        wchar = self.wchar.add(wall, sim, float(proc.get("io_wchar_bps") or 0.0))
        self._totals[0] += float(proc.get("io_write_bps") or 0.0)
        self._totals[1] += float(proc.get("io_wchar_bps") or 0.0)
        if self.wchar.full and (self._best is None or write > self._best):
            self._best = write
            self.amplification = write / wchar if wchar > 0 else None
        if proc.get("io_blocked") is not None:
            self.blocked = self.blocked or SlidingPeak(IO_WAIT.span_s)
            self.blocked.add(wall, sim, float(proc["io_blocked"]))

    def summary(self) -> ComponentIo:
        if self._best is None:  # a run shorter than the span: over the whole run
            write, wchar = self._totals
            self.amplification = write / wchar if wchar > 0 else None
        for peak in (self.read, self.write, self.blocked):
            if peak is not None:
                peak.close()
        return ComponentIo(
            read_bps=self.read.summary(),
            write_bps=self.write.summary(),
            write_amplification_at_peak=None if self.amplification is None else round(self.amplification, 3),
            blocked=None if self.blocked is None else self.blocked.summary(),
        )


def aggregate_io(folder: RunFolder) -> IoSummary | None:
    """The run's I/O figures; None when its samples carry none (a run folder older than them)."""
    components: dict[str, _ComponentIo] = {}
    iowait, busy = SlidingPeak(IO_WAIT.span_s), SlidingPeak(IO_WAIT.span_s)
    disks: Counter[str] = Counter()
    seen = False
    for s in folder.iter_jsonl("samples.jsonl"):
        try:
            wall, sim = float(s["wall"]), float(s["sim"])
        except (KeyError, TypeError, ValueError):
            continue  # the resources pass reports it
        host = s.get("host") or {}
        if host.get("iowait") is not None:
            seen = True
            iowait.add(wall, sim, float(host["iowait"]))
        if host.get("disk_busy") is not None:
            busy.add(wall, sim, float(host["disk_busy"]))
            disks[str(host.get("disk"))] += 1
        for name, proc in (s.get("procs") or {}).items():
            if isinstance(proc, dict) and "io_write_bps" in proc:
                seen = True
                components.setdefault(name, _ComponentIo()).add(wall, sim, proc)
    if not seen:
        return None
    for peak in (iowait, busy):
        peak.close()
    sampler = folder.manifest.get("sampler") or {}
    return IoSummary(
        sustained_window_wall_s=IO_WAIT.span_s,
        blocked_source=str(sampler.get("io_blocked") or NOT_RECORDED),
        components={name: c.summary() for name, c in sorted(components.items())},
        host_iowait=iowait.summary() if iowait.max is not None else None,
        disk_busy=busy.summary() if busy.max is not None else None,
        busiest_disk=disks.most_common(1)[0][0] if disks else None,
    )
