"""Fault switchboard and fault schedule: what the emulator breaks on purpose, and when.

`FaultSwitches` is the schema of the switches (docs/platform.md "Faults"): `POST /admin/faults`
bodies, the emulator's TOML `[faults]` table and every schedule entry's `set` are validated by it, so a
bad value is refused with a message naming the field and changes nothing.

A schedule is a list of `ScheduledFault` entries, one model for both places that hold one:
`[[faults]]` in a scenario and `schedule` in the emulator's `[faults]` table (or a POST body). Each
entry applies `set` at `at` and, with `until`, puts the keys it set back to the values they had just
before `at`. Both times are points on a simulated clock ("Wed 10:15" or seconds since Monday 00:00):
in a run the run plays the entries on the scenario's simulated week; an emulator on its own plays them
on a clock that reads Monday 00:00 when it starts (or when the POST arrives) and runs at real speed,
so `at = 60` there means one minute after the start. `FaultTimeline` is that one semantics.

A scenario's entries (`RunFault`) may instead act on a bot process the run started: `process` = kill
(SIGKILL), stop (SIGSTOP: a hung process), cont (SIGCONT) or restart (SIGKILL if it runs, then start it
again), aimed at `replica` (a number, or "serving": the one the platform routes to). With `until`, a
kill is followed by a restart and a stop by a cont of the same replica.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from harness.core.config import (
    MAX_SECONDS,
    ConfigError,
    ConfigModel,
    FieldProblem,
    Ratio,
    Seconds,
    SimTime,
    held_as,
    load,
    sim_seconds,
)
from harness.core.contract import APIS, MAX_REPLICAS

FORCED_STATUSES = (401, 403, 429)
QPS_MODES = ("429", "403")  # how a QPS limit answers: 429, or DingTalk's 403 QpsLimit code
# How the emulator ends a bot's stream connection (docs/platform.md "Faults"): a SYSTEM disconnect frame
# then a close after the grace period; an abrupt close (TCP reset, no close frame); a hang (the server
# stops reading and writing, the socket stays open); "mixed" picks system or abrupt at random each time.
DISCONNECT_KINDS = ("system", "abrupt", "hang", "mixed")
MAX_QPS = 1_000_000.0
PROCESS_ACTIONS = ("kill", "stop", "cont", "restart")
UNDO_ACTION = {"kill": "restart", "stop": "cont"}  # what `until` does after a process fault
SERVING: Final = "serving"  # the replica whose connection the platform routes to (docs/scenarios.md)

# mypy cannot read a Literal spelled from a tuple; pydantic (and the JSON Schema) can, and the tuple
# in the contract stays the one list of names.
Api = Literal[APIS]  # type: ignore[valid-type]
Qps = Annotated[float, Field(ge=0.001, le=MAX_QPS)]


class FaultError(ConfigError):
    """Bad fault switches or schedule; the message names the field."""


class ForcedError(ConfigModel):
    """A forced-error rule for one API."""

    status: Literal[FORCED_STATUSES] = Field(  # type: ignore[valid-type]
        description="the HTTP status to answer: 401, 403 or 429"
    )
    ratio: Ratio = Field(1.0, description="share of the API's calls that get it")


class FaultSwitches(ConfigModel):
    """The emulator's fault switches; a table of them sets only the ones it names."""

    push_drop_ratio: Ratio = Field(
        0.0, description="share of pushes silently not sent (the message then times out or is redelivered)"
    )
    push_delay_s: Seconds = Field(0.0, description="hold pushes back this many seconds ...")
    push_delay_ratio: Ratio = Field(1.0, description="... for this share of them")
    ignore_acks_ratio: Ratio = Field(0.0, description="share of ACKs received but treated as never sent")
    disconnect_every_s: Seconds = Field(
        0.0, description="disconnect storm: SYSTEM disconnect to every connection this often; 0 = off"
    )
    disconnect_kind: Literal[DISCONNECT_KINDS] = Field(  # type: ignore[valid-type]
        "system", description='how a storm ends connections: "system", "abrupt", "hang" or "mixed" (system/abrupt)'
    )
    grace_push_ratio: Ratio = Field(
        0.0, description='share of pushes sent to a connection told to disconnect (the server "forgot")'
    )
    errors: dict[Api, ForcedError] = Field({}, description="forced errors per API; a ratio of 0 removes the API's rule")
    qps_limits: dict[Api, Qps] = Field(
        {}, description="calls per second per app and API; overrides the settings' limits"
    )
    token_ttl_s: Annotated[float, Field(ge=1, le=MAX_SECONDS)] | None = Field(
        None, description="lifetime of new access tokens; null = the emulator's setting"
    )
    qps_mode: Literal[QPS_MODES] | None = Field(  # type: ignore[valid-type]
        None, description='how QPS limits answer, "429" or "403"; null = the emulator\'s setting'
    )

    @field_validator("errors")
    @classmethod
    def _active_rules(cls, rules: dict[str, ForcedError]) -> dict[str, ForcedError]:
        return {api: rule for api, rule in rules.items() if rule.ratio > 0}

    def changes(self) -> dict[str, Any]:
        """The switches this table named, as plain values (what a POST body carries)."""
        return self.model_dump(include=self.model_fields_set)


class ScheduledFault(ConfigModel):
    """One timed fault change: `set` at `at`, and with `until` the same keys put back."""

    at: SimTime = Field(description='when to apply `set`: a simulated time "Wed 10:15", or seconds since Monday 00:00')
    until: SimTime | None = Field(
        None, description="when to put the keys of `set` back to their values before `at`; none = they stay"
    )
    set: Annotated[dict[str, Any], held_as(FaultSwitches, FaultSwitches.changes)] = Field(
        description='the fault switches to apply (docs/platform.md "Faults")'
    )

    @model_validator(mode="after")
    def _check(self) -> ScheduledFault:
        self._check_action()
        until = self.until_s
        if until is not None and until <= self.at_s:
            raise FieldProblem("until", "must be after `at`")
        return self

    def _check_action(self) -> None:
        if not self.set:
            raise FieldProblem("set", "must name at least one fault switch (docs/platform.md)")

    @property
    def at_s(self) -> float:
        return sim_seconds(self.at)

    @property
    def until_s(self) -> float | None:
        return None if self.until is None else sim_seconds(self.until)


Replica = Annotated[int, Field(ge=1, le=MAX_REPLICAS)] | Literal["serving"]


class RunFault(ScheduledFault):
    """A scenario's `[[faults]]` entry: emulator switches (`set`), or a process fault on a bot replica."""

    set: Annotated[dict[str, Any], held_as(FaultSwitches, FaultSwitches.changes)] = Field(
        {}, description='the fault switches to apply (docs/platform.md "Faults"); not with `process`'
    )
    process: Literal[PROCESS_ACTIONS] | None = Field(  # type: ignore[valid-type]
        None,
        description="act on a bot process instead: kill (SIGKILL), stop (SIGSTOP), cont (SIGCONT), restart "
        "(SIGKILL if running, then start); with `until`, a kill is undone by a restart, a stop by a cont",
    )
    replica: Replica = Field(
        SERVING,
        description='process faults: the replica number (1 = the first started), or "serving": the one the '
        "platform routes to (active-active: the one that received the most pushes)",
    )

    def _check_action(self) -> None:
        if self.process is None:
            if "replica" in self.model_fields_set:
                raise FieldProblem("replica", "only applies with `process`")
            if not self.set:
                raise FieldProblem(
                    "set", "must name at least one fault switch (docs/platform.md), or give `process` instead"
                )
            return
        if self.set:
            raise FieldProblem("process", "an entry either sets switches or acts on a process; split it in two")
        if self.until is not None and self.process not in UNDO_ACTION:
            raise FieldProblem(
                "until", f"only a kill (restarted) or a stop (continued) can be undone, not {self.process!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The entry as a scenario file holds it: switches, or a process fault, never both kinds of key."""
        data = self.model_dump()
        for key in ("set",) if self.process else ("process", "replica"):
            del data[key]
        return data


class FaultsTable(FaultSwitches):
    """The emulator's `[faults]` table and `POST /admin/faults` body: switches now, and a schedule."""

    schedule: list[ScheduledFault] = Field(
        [], description="timed changes, played from the emulator's start (or the POST)"
    )


def read_faults(data: Any, where: str = "faults") -> FaultsTable:
    """Validate a `[faults]` table or POST body; FaultError names the field."""
    return load(FaultsTable, data, FaultError, where)


class Faults(FaultSwitches):
    """The switches in force inside the emulator (read on every push, changed at run time)."""

    model_config = ConfigDict(frozen=False)
    _rng: random.Random = PrivateAttr(default_factory=random.Random)

    @property
    def rng(self) -> random.Random:
        return self._rng

    @rng.setter
    def rng(self, rng: random.Random) -> None:  # tests script the draws
        self._rng = rng

    def hit(self, ratio: float) -> bool:
        return ratio > 0 and (ratio >= 1 or self._rng.random() < ratio)

    def forced_error(self, api: str) -> int | None:
        """The HTTP status to force on this call of `api`, if a forced-error fault says so."""
        rule = self.errors.get(api)
        if rule and self.hit(rule.ratio):
            return int(rule.status)
        return None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def update(self, changes: Any, where: str = "faults") -> None:
        """Merge switches after checking all of them, so a bad request changes nothing."""
        self.apply(load(FaultSwitches, changes, FaultError, where))

    def apply(self, switches: FaultSwitches) -> None:
        for key in switches.model_fields_set & set(FaultSwitches.model_fields):
            setattr(self, key, getattr(switches, key))


@dataclass(frozen=True)
class FaultStep:
    at_s: float  # on the schedule's simulated clock
    changes: dict[str, Any]
    label: str
    revert_keys: tuple[str, ...] = ()  # an `until`: put these keys back to their values before `at`
    entry: int = 0  # index of the schedule entry it comes from
    process: str = ""  # a process fault: the action (changes is then empty)
    replica: int | str = ""  # ... its aim; "" for an `until`: the replica its entry's `at` acted on


class FaultTimeline:
    """The steps of a schedule in time order, and what each one changes when it comes due."""

    def __init__(self, entries: list[ScheduledFault], where: str = "faults") -> None:
        steps = []
        for i, entry in enumerate(entries):
            if isinstance(entry, RunFault) and entry.process is not None:
                label = f"{where}[{i}] at {entry.at}"
                steps.append(FaultStep(entry.at_s, {}, label, (), i, entry.process, entry.replica))
                if entry.until_s is not None:
                    undo = UNDO_ACTION[entry.process]
                    steps.append(FaultStep(entry.until_s, {}, f"{where}[{i}] until {entry.until}", (), i, undo))
                continue
            steps.append(FaultStep(entry.at_s, entry.set, f"{where}[{i}] at {entry.at}", entry=i))
            if entry.until_s is not None:
                label = f"{where}[{i}] until {entry.until}"
                steps.append(FaultStep(entry.until_s, {}, label, tuple(entry.set), i))
        self.steps = sorted(steps, key=lambda s: s.at_s)
        self.saved: dict[str, Any] = {}

    def next_at(self) -> float | None:
        return self.steps[0].at_s if self.steps else None

    def due(self, reached: Callable[[float], bool]) -> list[FaultStep]:
        """Take the steps whose time `reached` says has come."""
        ready = [s for s in self.steps if reached(s.at_s)]
        self.steps = [s for s in self.steps if s not in ready]
        return ready

    def changes(self, step: FaultStep, current: dict[str, Any]) -> dict[str, Any]:
        """The switches to set for `step`, given the switches in force (`Faults.as_dict()` / GET
        /admin/faults). A step remembers what it overrides; an `until` gives it back."""
        if step.revert_keys:
            return {k: self.saved.get(k) for k in step.revert_keys}
        self.saved.update({k: current.get(k) for k in step.changes})
        return step.changes
