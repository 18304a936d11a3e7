"""The scenario's schema: dataclasses holding every field with its default (docs/scenarios.md).

scenarios/config.py reads and validates TOML into these; nothing here knows about files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from harness.core import week as profile
from harness.core.contract import THRESHOLDS, Thresholds

SHAPES = ("week", "smoke", "spike", "soak")
TARGETS = ("reference", "command", "url")
SLA_FIELDS = ("p99_latency_seconds", "availability", "cpu_target", "memory_target")

DEFAULT_TEXTS = (
    "What is the vacation policy for next quarter?",
    "Summarise yesterday's sales meeting in three bullet points.",
    "Please draft a reply to the customer about the delayed shipment.",
    "How do I reset my VPN password?",
    "Translate this paragraph into English for the partner team.",
    "Which conference rooms are free at 3 pm?",
)


@dataclass
class Target:
    kind: str = "reference"
    command: list[str] = field(default_factory=list)
    platform_url: str = ""
    metrics_url: str = ""
    admin_url: str = ""
    ready_timeout_s: float = 60.0
    engine: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Shape:
    kind: str = "week"
    peak_users: int = 300
    min_users: int = 2
    days: int = 7
    weekday_curve: list[list[float]] = field(default_factory=lambda: [list(p) for p in profile.WEEKDAY_CURVE])
    weekend_curve: list[list[float]] = field(default_factory=lambda: [list(p) for p in profile.WEEKEND_CURVE])
    users: int = 20
    duration_s: float = 60.0
    start: str = "Mon 10:00"
    spike_users: int = 300
    spike_at_s: float = 20.0
    spike_duration_s: float = 20.0
    spawn_rate: float = 0.0  # 0: as fast as the shape moves


@dataclass
class Compression:
    factor: float = 14400.0
    peak_window: list[str] = field(default_factory=lambda: ["09:30", "10:30"])
    peak_wall_s: float = 60.0
    weekend_peak_wall_s: float = 30.0


@dataclass
class Load:
    messages_per_user_per_minute: float = 30.0
    reply_timeout_s: float = 20.0
    window_s: float = 10.0
    late_start_ms: float = 50.0
    workers: int = 0  # 0: one per core minus what the bot needs

    @property
    def drain_s(self) -> float:
        """Zero-user tail after the shape so that every message sent gets its reply or its timeout."""
        return self.reply_timeout_s + 2.0


@dataclass
class Mix:
    one_to_one: float = 70.0
    group: float = 25.0
    membership: float = 5.0
    group_conversations: int = 20
    smoke_interval_s: float = 30.0  # one /test smoke user; 0 disables it


@dataclass
class Messages:
    texts: list[str] = field(default_factory=lambda: list(DEFAULT_TEXTS))
    length_chars: list[int] = field(default_factory=lambda: [10, 200])
    smoke_text: str = "/test"
    smoke_expect: str = "version"


@dataclass
class Abuse:
    logins_per_minute: float = 0.0  # 0: no abusive client
    target: str = "bot"  # bot: the bot's admin login; platform: the emulator's accessToken
    windows: list[list[str]] = field(default_factory=list)  # [["Wed 10:00", "Wed 10:30"]] in simulated time
    login_path: str = "/login"


@dataclass
class Fault:
    at: str
    set: dict[str, Any]
    until: str = ""


@dataclass
class ProfilingWindow:
    at: str
    seconds: float = 15.0
    components: list[str] = field(default_factory=lambda: ["bot"])


@dataclass
class Monitoring:
    prometheus: str = ""  # binary; "" searches PATH
    alertmanager: str = ""
    scrape_interval_s: float = 2.0
    require_prometheus: bool = False


@dataclass
class Scenario:
    name: str
    description: str = ""
    target: Target = field(default_factory=Target)
    shape: Shape = field(default_factory=Shape)
    compression: Compression = field(default_factory=Compression)
    load: Load = field(default_factory=Load)
    mix: Mix = field(default_factory=Mix)
    messages: Messages = field(default_factory=Messages)
    abuse: Abuse = field(default_factory=Abuse)
    sla: Thresholds = field(default_factory=lambda: THRESHOLDS)
    faults: list[Fault] = field(default_factory=list)
    profiling: list[ProfilingWindow] = field(default_factory=list)
    monitoring: Monitoring = field(default_factory=Monitoring)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
