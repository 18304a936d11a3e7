"""Bot replicas and the process faults a scenario aims at them.

A replica is one bot process on the run's app credentials (components.bot_name: "bot", "bot-2", ...).
Which replica holds which stream connection is read from the operating system: the emulator reports
each connection's peer port (GET /admin/status) and the replica whose process (or a child of it) owns a
TCP socket with that local port holds it. "serving" is the replica holding the connection the emulator
reports as serving (active-standby: the oldest; active-active: the one that took the most pushes).

Before a kill, a stop or a restart of a running replica, the emulator is asked to open an incident on
its connection (POST /admin/incidents), so that the ledger follows the messages in flight there.
Every applied process fault is recorded (manifest.json `process_faults`) with its wall, simulated and
unix time, the pid signalled and, for a restart, the new pid. A restart does not wait for the new
process to connect (the play goes on). Faults are applied from the thread that plays the run: a child
dies with the thread that started it (harness.core.procs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from harness.core.faults import SERVING, FaultStep
from harness.run.pollers import http_json
from harness.run.processes import Component

KILL_WAIT_S = 5.0  # a SIGKILLed process is gone at once; this only bounds the wait


@dataclass
class Replica:
    number: int
    component: Component
    pids: list[int] = field(default_factory=list)  # every process it ran as, the first start first
    stopped: bool = False  # SIGSTOPped and not continued

    @property
    def running(self) -> bool:
        return self.component.exit_code() is None and self.component.process is not None


def ports_of(pid: int) -> set[int]:
    """Local TCP ports of a process and its children (empty when it is gone)."""
    ports: set[int] = set()
    with contextlib.suppress(psutil.Error):
        parent = psutil.Process(pid)
        for proc in (parent, *parent.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                ports.update(c.laddr.port for c in proc.net_connections(kind="tcp") if c.laddr)
    return ports


class Replicas:
    def __init__(
        self,
        platform_url: str,
        token: str,
        on_started: Callable[[Component], None],
        record: Callable[[dict[str, Any]], None],
        clock: Callable[[], tuple[float, float]],
    ) -> None:
        """`on_started`: told of each (re)started component (sampler, manifest); `record`: takes each
        applied process fault; `clock`: the run's (wall, simulated) time."""
        self.status_url = platform_url.rstrip("/") + "/admin/status"
        self.incidents_url = platform_url.rstrip("/") + "/admin/incidents"
        self.token = token
        self.on_started = on_started
        self.record = record
        self.clock = clock
        self.replicas: list[Replica] = []
        self._aimed: dict[int, Replica] = {}  # schedule entry -> the replica its `at` acted on

    def add(self, component: Component) -> None:
        replica = Replica(len(self.replicas) + 1, component)
        if component.pid is not None:
            replica.pids.append(component.pid)
        self.replicas.append(replica)

    # --- who holds which connection -----------------------------------------------------------------
    def connections(self) -> tuple[dict[int, dict[str, Any]], str]:
        """{replica number: its connection as the emulator shows it} and the routing mode."""
        status = http_json(self.status_url, token=self.token)
        by_port = {c["peer_port"]: c for c in status.get("connections", []) if c.get("peer_port")}
        held: dict[int, dict[str, Any]] = {}
        for replica in self.replicas:
            if replica.running and replica.component.pid is not None:
                mine = [by_port[p] for p in ports_of(replica.component.pid) if p in by_port]
                if mine:  # during a reconnect a process may hold two: the routable, newest one counts
                    held[replica.number] = max(mine, key=lambda c: (c["routable"], c["order"]))
        return held, str(status.get("routing", ""))

    def aim(self, step: FaultStep) -> tuple[Replica | None, dict[str, Any] | None]:
        """The replica a step acts on, and the connection it holds (None when it holds none)."""
        held, _ = self.connections()
        if step.replica == "":  # an `until`: the replica its entry's `at` acted on
            replica = self._aimed.get(step.entry)
        elif step.replica == SERVING:
            number = next((n for n, c in held.items() if c["serving"]), None)
            replica = None if number is None else self.replicas[number - 1]
        else:
            replica = self.replicas[int(step.replica) - 1]
        if replica is not None:
            self._aimed[step.entry] = replica
        return replica, None if replica is None else held.get(replica.number)

    # --- process faults -----------------------------------------------------------------------------
    def apply(self, step: FaultStep) -> dict[str, Any]:
        """Apply one process fault; what was done, as recorded."""
        wall, sim = self.clock()
        entry: dict[str, Any] = {"wall": wall, "sim": sim, "unix": time.time(), "step": step.label}
        entry["process"] = step.process
        try:
            replica, conn = self.aim(step)
        except (OSError, ValueError) as exc:
            replica, conn = None, None
            entry["skipped"] = f"the emulator's status could not be read: {exc}"
        if replica is None:
            entry.setdefault("skipped", f"no replica to aim at ({step.replica or 'the one its entry acted on'})")
            self.record(entry)
            return entry
        entry.update(replica=replica.number, component=replica.component.name, pid=replica.component.pid)
        entry["connection"] = conn["id"] if conn else None
        entry["serving"] = bool(conn and conn["serving"])
        action = getattr(self, f"_{step.process}")
        action(replica, conn, entry)
        self.record(entry)
        return entry

    def _incident(self, label: str, conn: dict[str, Any] | None, entry: dict[str, Any]) -> None:
        """Ask the emulator to follow what is in flight on the connection about to be faulted."""
        if conn is None:
            entry["incident"] = None
            return
        try:
            opened = http_json(self.incidents_url, {"label": label, "connection": conn["id"]}, token=self.token)
        except (OSError, ValueError) as exc:
            entry["incident"], entry["incident_error"] = None, str(exc)
            return
        entry["incident"], entry["in_flight"] = opened["id"], opened["in_flight"]

    def _signal(self, replica: Replica, sig: int) -> None:
        pid = replica.component.pid
        assert pid is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)  # the whole group: what the replica started goes with it

    def _kill(self, replica: Replica, conn: dict[str, Any] | None, entry: dict[str, Any]) -> None:
        if not replica.running:
            entry["skipped"] = "not running"
            return
        self._incident(entry["step"], conn, entry)
        replica.component.expected_exit = True  # not a death the run aborts for
        self._signal(replica, signal.SIGKILL)
        entry["unix"] = time.time()
        assert replica.component.process is not None
        with contextlib.suppress(Exception):
            replica.component.process.wait(KILL_WAIT_S)
        replica.stopped = False

    def _stop(self, replica: Replica, conn: dict[str, Any] | None, entry: dict[str, Any]) -> None:
        if not replica.running or replica.stopped:
            entry["skipped"] = "not running" if not replica.running else "already stopped"
            return
        self._incident(entry["step"], conn, entry)
        self._signal(replica, signal.SIGSTOP)
        entry["unix"] = time.time()
        replica.stopped = True

    def _cont(self, replica: Replica, conn: dict[str, Any] | None, entry: dict[str, Any]) -> None:
        if not replica.running or not replica.stopped:
            entry["skipped"] = "not running" if not replica.running else "not stopped"
            return
        self._signal(replica, signal.SIGCONT)
        replica.stopped = False

    def _restart(self, replica: Replica, conn: dict[str, Any] | None, entry: dict[str, Any]) -> None:
        if replica.running:
            self._kill(replica, conn, entry)
            entry.pop("skipped", None)
        comp = replica.component
        if comp.ready_file is not None:
            comp.ready_file.unlink(missing_ok=True)
        comp.start()
        comp.expected_exit = False
        assert comp.pid is not None
        replica.pids.append(comp.pid)
        entry["new_pid"] = comp.pid
        self.on_started(comp)

    def continue_all(self) -> None:
        """SIGCONT what is stopped, so that stopping the run does not wait out a frozen process."""
        for replica in self.replicas:
            if replica.stopped and replica.running:
                self._signal(replica, signal.SIGCONT)
                replica.stopped = False

    def final_state(self) -> list[dict[str, Any]]:
        """Each replica at the end of the play: its pids, whether it runs, the connection it holds."""
        try:
            held, _ = self.connections()
        except (OSError, ValueError):
            held = {}
        return [
            {
                "replica": r.number,
                "component": r.component.name,
                "pids": r.pids,
                "running": r.running,
                "stopped": r.stopped,
                "connection": held[r.number]["id"] if r.number in held else None,
                "serving": bool(held.get(r.number, {}).get("serving")),
            }
            for r in self.replicas
        ]
