"""The scenario's schema: pydantic models holding every field with its default and its checks.

docs/scenarios.md is the reference; scenarios/scenario.schema.json is generated from `Scenario`
(`harness run --schema`). scenario/config.py reads files into these; nothing here knows about files.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from harness.core import simclock
from harness.core import week as profile
from harness.core.config import (
    MAX_SECONDS,
    ConfigModel,
    FieldProblem,
    PositiveSeconds,
    Seconds,
    SimText,
    held_as,
)
from harness.core.contract import MAX_REPLICAS, ROUTING_MODES, THRESHOLDS, Thresholds
from harness.core.faults import RunFault

SHAPES = ("week", "smoke", "spike", "soak")
TARGETS = ("reference", "command", "url")
SLA_FIELDS = ("p99_latency_seconds", "availability", "cpu_target", "memory_target", "memory_limit_mb", "refused_calls")

DEFAULT_TEXTS = (
    "What is the vacation policy for next quarter?",
    "Summarise yesterday's sales meeting in three bullet points.",
    "Please draft a reply to the customer about the delayed shipment.",
    "How do I reset my VPN password?",
    "Translate this paragraph into English for the partner team.",
    "Which conference rooms are free at 3 pm?",
)
MAX_USERS = 1_000_000
Weight = Annotated[float, Field(ge=0, le=1e6)]
Point = Annotated[list[Annotated[float, Field(ge=0, le=24)]], Field(min_length=2, max_length=2)]


class Target(ConfigModel):
    """The bot under test."""

    kind: Literal[TARGETS] = Field(  # type: ignore[valid-type]
        "reference",
        description="reference: the built-in reference bot; command: start your bot; url: an emulator already running with a bot",
    )
    command: list[str] = Field(
        [], description='kind = "command": the argv that starts your bot, e.g. ["python", "-m", "mybot"]'
    )
    platform_url: str = Field("", description='kind = "url": base URL of the running emulator')
    metrics_url: str = Field(
        "", description="your bot's Prometheus /metrics (scraped; its chatbot_queue_depth is sampled as the backlog)"
    )
    admin_url: str = Field("", description="your bot's admin API, for the abusive-login client")
    ready_timeout_s: PositiveSeconds = Field(
        60.0, description="how long the bot may take to open its stream connection"
    )
    replicas: int = Field(
        1,
        ge=1,
        le=MAX_REPLICAS,
        description="bot processes started on the same app credentials (reference or command), each with its "
        "own log and ports",
    )
    mode: Literal[ROUTING_MODES] = Field(  # type: ignore[valid-type]
        "active-active",
        description="how the platform spreads pushes over the replicas' connections: active-active = any live "
        'one at random; active-standby = the oldest live one, the next taking over when it goes (docs/platform.md "Routing")',
    )
    engine: dict[str, Any] = Field(
        {}, description="reference bot only: engine knobs passed as `harness bot --<knob> <value>`"
    )
    config: dict[str, Any] = Field(
        {},
        description="reference bot only: its config.json fields (docs/bot.md), e.g. answer_cache.enabled = true; "
        "passed as `harness bot --set FIELD=VALUE`",
    )
    env: dict[str, str] = Field(
        {},
        description="extra environment for the bot; every value is masked in the run folder unless listed in public_env",
    )
    public_env: list[str] = Field(
        [],
        description="names in `env` whose values may be written to the run folder (secret-looking names stay masked)",
    )

    @model_validator(mode="after")
    def _kind_needs(self) -> Target:
        if self.kind == "command" and not self.command:
            raise FieldProblem("command", "is required when target.kind = 'command' (the argv that starts your bot)")
        if self.kind == "url" and not self.platform_url:
            raise FieldProblem("platform_url", "is required when target.kind = 'url' (an already-running platform)")
        if self.kind == "url" and self.replicas > 1:
            raise FieldProblem(
                "replicas", "only applies to a bot the harness starts (target.kind reference or command)"
            )
        for name in ("engine", "config"):
            if self.kind != "reference" and getattr(self, name):
                raise FieldProblem(name, "only applies to the built-in reference bot (target.kind = 'reference')")
        unknown = sorted(set(self.public_env) - set(self.env))
        if unknown:
            raise FieldProblem("public_env", f"{unknown[0]!r} is not a name in target.env")
        return self

    def bot_settings(self) -> dict[str, Any]:
        """`config` as dotted field names to values (TOML's nested tables flattened): the bot's --set."""
        flat: dict[str, Any] = {}

        def walk(prefix: str, node: dict[str, Any]) -> None:
            for key, value in node.items():
                if isinstance(value, dict):
                    walk(f"{prefix}{key}.", value)
                else:
                    flat[prefix + key] = value

        walk("", self.config)
        return flat


def _curve(points: list[list[float]]) -> list[list[float]]:
    try:
        return [list(p) for p in profile.check_curve(points)]
    except ValueError as exc:
        raise ValueError(f"{exc} (e.g. [[0, 0.02], [10, 1.0], [24, 0.02]])") from None


Curve = Annotated[list[Point], Field(min_length=2)]


class Shape(ConfigModel):
    """How many users are online over time."""

    kind: Literal[SHAPES] = Field(  # type: ignore[valid-type]
        "week",
        description="week: Monday to Sunday, compressed; smoke / spike / soak: real time from `start` for `duration_s`",
    )
    peak_users: int = Field(300, ge=1, le=MAX_USERS, description="week: users online at a weekday's 10:00")
    min_users: int = Field(2, ge=0, le=MAX_USERS, description="week: never fewer users than this")
    days: int = Field(7, ge=1, le=7, description="week: play the first N days")
    weekday_curve: Curve = Field(
        [list(p) for p in profile.WEEKDAY_CURVE],
        description="[[hour, fraction], ...] from hour 0 to 24, fractions 0-1, linear in between",
    )
    weekend_curve: Curve = Field(
        [list(p) for p in profile.WEEKEND_CURVE], description="like weekday_curve, for Saturday and Sunday"
    )
    users: int = Field(20, ge=1, le=MAX_USERS, description="smoke / spike / soak: steady users")
    duration_s: PositiveSeconds = Field(60.0, description="smoke / spike / soak: wall (= simulated) seconds")
    start: SimText = Field("Mon 10:00", description="smoke / spike / soak: simulated time at the start")
    spike_users: int = Field(300, ge=1, le=MAX_USERS, description="spike: users during the spike")
    spike_at_s: Seconds = Field(20.0, description="spike: seconds from the start to the spike")
    spike_duration_s: PositiveSeconds = Field(20.0, description="spike: how long the spike lasts")
    spawn_rate: float = Field(
        0.0,
        ge=0,
        le=1e6,
        description="users started / stopped per second on a change; 0 = fast enough to follow the shape",
    )

    @field_validator("weekday_curve", "weekend_curve")
    @classmethod
    def _curves(cls, points: list[list[float]]) -> list[list[float]]:
        return _curve(points)

    @model_validator(mode="after")
    def _spike_fits(self) -> Shape:
        if self.kind == "spike" and self.spike_at_s + self.spike_duration_s > self.duration_s:
            raise FieldProblem("spike_duration_s", "the spike must end before duration_s")
        return self


class Compression(ConfigModel):
    """week: how the simulated week is played in wall time."""

    factor: float = Field(
        14400.0, ge=1, le=1e6, description="off-peak simulated seconds per wall second; 1 = real time"
    )
    peak_window: list[str] = Field(
        ["09:30", "10:30"], description="each day's peak window (simulated), played at peak_wall_s"
    )
    peak_wall_s: PositiveSeconds = Field(60.0, description="wall seconds a weekday peak window lasts")
    weekend_peak_wall_s: PositiveSeconds = Field(30.0, description="wall seconds a weekend peak window lasts")

    @field_validator("peak_window")
    @classmethod
    def _window(cls, window: list[str]) -> list[str]:
        if len(window) != 2:
            raise ValueError("must be [start, end], e.g. ['09:30', '10:30']")
        start, end = (simclock.parse_hour(w) for w in window)
        if end <= start:
            raise ValueError("end must be after start")
        return window


class Load(ConfigModel):
    """How each simulated user sends."""

    messages_per_user_per_minute: float = Field(30.0, ge=0, le=60_000, description="each chatting user's Poisson rate")
    reply_timeout_s: PositiveSeconds = Field(
        20.0, description="no final reply within this -> `no reply` (also the emulator's ledger timeout)"
    )
    window_s: float = Field(10.0, ge=1, le=3600, description="wall seconds per histogram window in windows.jsonl")
    late_start_ms: float = Field(
        50.0, gt=0, le=MAX_SECONDS * 1000, description="a send later than this after its intended time is a late start"
    )
    workers: int = Field(0, ge=0, le=1024, description="local Locust workers; 0 = one per core minus one for the bot")
    accepted_frames: bool = Field(
        False,
        description="ask the emulator for an `accepted` frame per message: no-reply samples then carry the msgId "
        "(costs the generator one more frame per message)",
    )
    wakeup_batch_ms: float = Field(
        0.0,
        ge=0,
        le=100,
        description="a generator's event loop handles sends and replies at most once per this many ms "
        "(fewer wake-ups, more messages per CPU-second; sends start and replies are read up to this late, "
        "which the latency and late starts include); 0 = on every event",
    )

    @property
    def drain_s(self) -> float:
        """Zero-user tail after the shape so that every message sent gets its reply or its timeout."""
        return self.reply_timeout_s + 2.0


class Mix(ConfigModel):
    """What users do (weights)."""

    one_to_one: Weight = Field(70.0, description="weight of employees chatting one-to-one with the bot")
    group: Weight = Field(25.0, description="weight of employees @-mentioning the bot in group chats")
    membership: Weight = Field(
        5.0, description="weight of users who join and leave groups (EVENT frames) and chat in them"
    )
    group_conversations: int = Field(20, ge=1, le=100_000, description="number of shared group chats")
    smoke_interval_s: Seconds = Field(
        30.0, description="one extra user sends messages.smoke_text this often and checks the reply; 0 = off"
    )

    @model_validator(mode="after")
    def _someone_chats(self) -> Mix:
        if self.one_to_one + self.group + self.membership <= 0:
            raise FieldProblem("one_to_one", "at least one of one_to_one, group, membership must have a weight > 0")
        return self


class Messages(ConfigModel):
    """What users send."""

    texts: list[str] = Field(list(DEFAULT_TEXTS), description="texts to send, picked at random")
    length_chars: list[int] = Field(
        [10, 200], description="[min, max]: each text is repeated / cut to a random length in this range"
    )
    repeat_share: float | None = Field(
        None,
        ge=0,
        le=1,
        description="share of messages that ask one of `popular_questions` again (Zipf-like); the others are "
        "asked once only. Unset: texts at random lengths, as without it",
    )
    popular_questions: int = Field(
        100, ge=1, le=100_000, description="repeat_share: how many distinct questions are asked again and again"
    )
    zipf_exponent: float = Field(
        1.0,
        ge=0,
        le=10,
        description="repeat_share: the k-th most popular question is asked 1/k^zipf_exponent as often as the first",
    )
    smoke_text: str = Field("/test", description="the smoke command")
    smoke_expect: str = Field("version", description="the smoke reply must contain this (case-insensitive)")

    @field_validator("texts")
    @classmethod
    def _texts(cls, texts: list[str]) -> list[str]:
        if not texts or any(not t.strip() for t in texts):
            raise ValueError("must be a non-empty list of non-empty strings")
        return texts

    @field_validator("length_chars")
    @classmethod
    def _lengths(cls, lengths: list[int]) -> list[int]:
        if len(lengths) != 2 or not 1 <= lengths[0] <= lengths[1] <= 1_000_000:
            raise ValueError(f"must be [min, max] with 1 <= min <= max, got {lengths!r}")
        return lengths


class Abuse(ConfigModel):
    """The abusive client: failed logins."""

    logins_per_minute: float = Field(
        0.0, ge=0, le=60_000, description="failed logins per minute from one client; 0 = no such client"
    )
    target: Literal["bot", "platform"] = Field(
        "bot", description="bot: the bot's admin login; platform: the emulator's accessToken with a wrong secret"
    )
    windows: list[list[SimText]] = Field(
        [], description='[["Wed 09:30", "Wed 10:30"], ...] simulated windows; empty = the whole run'
    )
    login_path: str = Field("/login", description="path of the bot's login endpoint")

    @field_validator("windows")
    @classmethod
    def _windows(cls, windows: list[list[str]]) -> list[list[str]]:
        for i, window in enumerate(windows):
            if len(window) != 2:
                raise FieldProblem(i, "must be [start, end]")
            if simclock.parse_sim(window[1]) <= simclock.parse_sim(window[0]):
                raise FieldProblem(i, "end must be after start")
        return windows


class Sla(ConfigModel):
    """Overrides of the SLA thresholds; the defaults are the source design's (harness.core.contract)."""

    p99_latency_seconds: float = Field(THRESHOLDS.p99_latency_seconds, gt=0, le=3600)
    availability: float = Field(THRESHOLDS.availability, gt=0, le=1)
    cpu_target: float = Field(THRESHOLDS.cpu_target, gt=0, le=1)
    memory_target: float = Field(THRESHOLDS.memory_target, gt=0, le=1)
    refused_calls: int = Field(
        int(THRESHOLDS.refused_calls),
        ge=0,
        le=10**12,
        description="open-API calls the platform may refuse the bot over the run; refusals the scenario's "
        "own faults caused are not counted",
    )
    memory_limit_mb: float = Field(
        THRESHOLDS.memory_limit_mb,
        ge=0,
        le=1e9,
        description="the bot's memory limit in MB, which memory_target is a share of; "
        "0 = the container's memory limit when one is set, else the host's memory",
    )

    @classmethod
    def unknown_field_problem(cls, name: str) -> str:
        return f"unknown SLA (known: {', '.join(SLA_FIELDS)})"

    def thresholds(self) -> Thresholds:
        return dataclasses.replace(THRESHOLDS, **self.model_dump())


class ProfilingWindow(ConfigModel):
    """A py-spy recording during the run."""

    at: SimText = Field(description='simulated start, e.g. "Tue 10:00"')
    seconds: PositiveSeconds = Field(15.0, description="wall seconds to record")
    components: list[str] = Field(["bot"], description="which components to profile (bot, platform)")
    idle: bool = Field(
        False, description="sample idle threads too (py-spy --idle): time blocked in calls (disk, locks) shows"
    )
    memory: bool = Field(
        False,
        description="also take a memory snapshot (tracemalloc's top allocation sites) of each component that "
        "opts in (docs/run-folder.md); tracing runs the whole run and slows allocation, hence off by default",
    )


class Monitoring(ConfigModel):
    """Prometheus and Alertmanager."""

    prometheus: str = Field("", description='Prometheus binary; "" searches PATH')
    alertmanager: str = Field("", description='Alertmanager binary; "" searches PATH')
    scrape_interval_s: float = Field(2.0, ge=0.5, le=3600, description="scrape and rule evaluation interval")
    require_prometheus: bool = Field(False, description="abort instead of running without Prometheus")


class Scenario(ConfigModel):
    """A harness scenario file (docs/scenarios.md). Every field has a default."""

    name: str = Field("", description="names the run folder: letters, digits, '.', '_', '-'; default: the file's name")
    description: str = Field("", description="free text, shown in the report")
    target: Target = Target()
    shape: Shape = Shape()
    compression: Compression = Compression()
    load: Load = Load()
    mix: Mix = Mix()
    messages: Messages = Messages()
    abuse: Abuse = Abuse()
    sla: Annotated[Thresholds, held_as(Sla, Sla.thresholds)] = Field(
        THRESHOLDS,
        description="SLA thresholds: p99_latency_seconds, availability, cpu_target, memory_target, memory_limit_mb, "
        "refused_calls",
        json_schema_extra=lambda schema: schema.update(default=Sla().model_dump()),
    )
    faults: list[RunFault] = Field(
        [],
        description='emulator fault switches (docs/platform.md "Faults") or bot process faults (kill, stop, cont, '
        "restart) applied at simulated times",
    )
    profiling: list[ProfilingWindow] = Field([], description="py-spy flame graphs at simulated times")
    monitoring: Monitoring = Monitoring()
    _source: str = PrivateAttr("")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError("may only hold letters, digits, '.', '_' and '-' (it names the run folder)")
        return name

    @model_validator(mode="after")
    def _process_faults_aim(self) -> Scenario:
        for i, fault in enumerate(self.faults):
            if fault.process is None:
                continue
            if self.target.kind == "url":
                raise FieldProblem(
                    ("faults", i, "process"), "needs a bot the harness starts (target.kind reference or command)"
                )
            if isinstance(fault.replica, int) and fault.replica > self.target.replicas:
                raise FieldProblem(
                    ("faults", i, "replica"), f"is {fault.replica} but target.replicas is {self.target.replicas}"
                )
        return self

    @property
    def source(self) -> str:
        """The file the scenario was read from ("" when built from a dict)."""
        return self._source

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump()
        data["sla"] = {k: getattr(self.sla, k) for k in SLA_FIELDS}
        data["faults"] = [fault.to_dict() for fault in self.faults]
        return data
