"""Scenario files (TOML): schema, defaults and validation. docs/scenarios.md is the reference.

`load_scenario(path)` returns a Scenario with every default filled in, or raises ScenarioError naming
the field that is wrong. `resolved_toml(scenario)` is what the run folder keeps (secrets masked).
"""

from __future__ import annotations

import re
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import tomli_w

from harness.core import assets, simclock
from harness.core import week as profile
from harness.core.contract import THRESHOLDS, Thresholds
from harness.core.faults import FaultError, Faults
from harness.core.scenario.reader import ScenarioError, Table
from harness.core.scenario.schema import (
    SHAPES,
    SLA_FIELDS,
    TARGETS,
    Abuse,
    Compression,
    Fault,
    Load,
    Messages,
    Mix,
    Monitoring,
    ProfilingWindow,
    Scenario,
    Shape,
    Target,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_SECRETISH = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|KEY", re.IGNORECASE)


def _sim(table: Table, key: str, default: str | None) -> str:
    text = table.string(key, default)
    if text is None:
        raise table.fail(key, "is required (a simulated time like 'Wed 10:15')")
    try:
        simclock.parse_sim(text)
    except ValueError as exc:
        raise table.fail(key, str(exc)) from None
    return text


def _dict(table: Table, key: str) -> dict[str, Any]:
    value = table.raw(key, {})
    if not isinstance(value, dict):
        raise table.fail(key, "must be a table")
    return dict(value)


def _curve(table: Table, key: str, default: list[list[float]]) -> list[list[float]]:
    value = table.raw(key, default)
    try:
        return [list(p) for p in profile.check_curve(value)]
    except (TypeError, ValueError, IndexError) as exc:
        raise table.fail(key, f"{exc} (e.g. [[0, 0.02], [10, 1.0], [24, 0.02]])") from None


def _target(t: Table) -> Target:
    d = Target()
    kind = t.string("kind", d.kind, TARGETS)
    command = t.strings("command", [])
    env = _dict(t, "env")
    if any(not isinstance(v, str) for v in env.values()):
        raise t.fail("env", "values must be strings")
    target = Target(
        kind=kind,
        command=command,
        platform_url=t.string("platform_url", ""),
        metrics_url=t.string("metrics_url", ""),
        admin_url=t.string("admin_url", ""),
        ready_timeout_s=t.number("ready_timeout_s", d.ready_timeout_s, above=0),
        engine=_dict(t, "engine"),
        env=env,
    )
    if kind == "command" and not command:
        raise t.fail("command", "is required when target.kind = 'command' (the argv that starts your bot)")
    if kind == "url" and not target.platform_url:
        raise t.fail("platform_url", "is required when target.kind = 'url' (an already-running platform)")
    if kind != "reference" and target.engine:
        raise t.fail("engine", "only applies to the built-in reference bot (target.kind = 'reference')")
    t.finish()
    return target


def _shape(t: Table) -> Shape:
    d = Shape()
    shape = Shape(
        kind=t.string("kind", d.kind, SHAPES),
        peak_users=t.integer("peak_users", d.peak_users, minimum=1),
        min_users=t.integer("min_users", d.min_users, minimum=0),
        days=t.integer("days", d.days, minimum=1),
        weekday_curve=_curve(t, "weekday_curve", d.weekday_curve),
        weekend_curve=_curve(t, "weekend_curve", d.weekend_curve),
        users=t.integer("users", d.users, minimum=1),
        duration_s=t.number("duration_s", d.duration_s, above=0),
        start=_sim(t, "start", d.start),
        spike_users=t.integer("spike_users", d.spike_users, minimum=1),
        spike_at_s=t.number("spike_at_s", d.spike_at_s, minimum=0),
        spike_duration_s=t.number("spike_duration_s", d.spike_duration_s, above=0),
        spawn_rate=t.number("spawn_rate", d.spawn_rate, minimum=0),
    )
    if shape.days > 7:
        raise t.fail("days", f"must be <= 7, got {shape.days}")
    if shape.kind == "spike" and shape.spike_at_s + shape.spike_duration_s > shape.duration_s:
        raise t.fail("spike_duration_s", "the spike must end before duration_s")
    t.finish()
    return shape


def _compression(t: Table) -> Compression:
    d = Compression()
    window = t.strings("peak_window", d.peak_window)
    try:
        if len(window) != 2:
            raise ValueError("must be [start, end], e.g. ['09:30', '10:30']")
        start, end = (simclock.parse_hour(w) for w in window)
        if end <= start:
            raise ValueError("end must be after start")
    except ValueError as exc:
        raise t.fail("peak_window", str(exc)) from None
    comp = Compression(
        factor=t.number("factor", d.factor, minimum=1),
        peak_window=window,
        peak_wall_s=t.number("peak_wall_s", d.peak_wall_s, above=0),
        weekend_peak_wall_s=t.number("weekend_peak_wall_s", d.weekend_peak_wall_s, above=0),
    )
    t.finish()
    return comp


def _load(t: Table) -> Load:
    d = Load()
    load = Load(
        messages_per_user_per_minute=t.number(
            "messages_per_user_per_minute", d.messages_per_user_per_minute, minimum=0
        ),
        reply_timeout_s=t.number("reply_timeout_s", d.reply_timeout_s, above=0),
        window_s=t.number("window_s", d.window_s, minimum=1),
        late_start_ms=t.number("late_start_ms", d.late_start_ms, above=0),
        workers=t.integer("workers", d.workers, minimum=0),
    )
    t.finish()
    return load


def _mix(t: Table) -> Mix:
    d = Mix()
    mix = Mix(
        one_to_one=t.number("one_to_one", d.one_to_one, minimum=0),
        group=t.number("group", d.group, minimum=0),
        membership=t.number("membership", d.membership, minimum=0),
        group_conversations=t.integer("group_conversations", d.group_conversations, minimum=1),
        smoke_interval_s=t.number("smoke_interval_s", d.smoke_interval_s, minimum=0),
    )
    if mix.one_to_one + mix.group + mix.membership <= 0:
        raise t.fail("one_to_one", "at least one of one_to_one, group, membership must have a weight > 0")
    t.finish()
    return mix


def _messages(t: Table) -> Messages:
    d = Messages()
    texts = t.strings("texts", d.texts)
    if not texts or any(not s.strip() for s in texts):
        raise t.fail("texts", "must be a non-empty list of non-empty strings")
    lengths = t.raw("length_chars", d.length_chars)
    if (
        not isinstance(lengths, list)
        or len(lengths) != 2
        or not all(isinstance(v, int) for v in lengths)
        or not 1 <= lengths[0] <= lengths[1]
    ):
        raise t.fail("length_chars", f"must be [min, max] with 1 <= min <= max, got {lengths!r}")
    messages = Messages(
        texts=texts,
        length_chars=list(lengths),
        smoke_text=t.string("smoke_text", d.smoke_text),
        smoke_expect=t.string("smoke_expect", d.smoke_expect),
    )
    t.finish()
    return messages


def _abuse(t: Table) -> Abuse:
    d = Abuse()
    windows = t.raw("windows", [])
    if not isinstance(windows, list):
        raise t.fail("windows", "must be a list of [start, end] simulated times")
    for i, w in enumerate(windows):
        try:
            if not isinstance(w, list) or len(w) != 2:
                raise ValueError("must be [start, end]")
            start, end = (simclock.parse_sim(x) for x in w)
            if end <= start:
                raise ValueError("end must be after start")
        except (TypeError, ValueError) as exc:
            raise t.fail(f"windows[{i}]", str(exc)) from None
    abuse = Abuse(
        logins_per_minute=t.number("logins_per_minute", d.logins_per_minute, minimum=0),
        target=t.string("target", d.target, ("bot", "platform")),
        windows=[list(w) for w in windows],
        login_path=t.string("login_path", d.login_path),
    )
    t.finish()
    return abuse


def _sla(t: Table) -> Thresholds:
    values = THRESHOLDS.as_dict()
    for key in list(t.data):
        if key not in SLA_FIELDS:
            t.seen.add(key)
            raise t.fail(key, f"unknown SLA (known: {', '.join(SLA_FIELDS)})")
        upper = None if key == "p99_latency_seconds" else 1.0
        values[key] = t.number(key, values[key], maximum=upper, above=0)
    t.finish()
    return Thresholds(**values)


def _faults(tables: list[Table]) -> list[Fault]:
    faults = []
    for t in tables:
        settings = _dict(t, "set")
        if not settings:
            raise t.fail("set", "is required: the emulator fault settings to apply (see docs/platform.md)")
        try:  # the emulator's own validator: a bad switch fails at load, not mid-run
            Faults().update(settings, where=t.field("set"))
        except FaultError as exc:
            raise ScenarioError(str(exc)) from None
        fault = Fault(at=_sim(t, "at", None), set=settings, until=t.string("until", ""))
        if fault.until:
            _sim(t, "until", None)
            if simclock.parse_sim(fault.until) <= simclock.parse_sim(fault.at):
                raise t.fail("until", "must be after `at`")
        t.finish()
        faults.append(fault)
    return faults


def _profiling(tables: list[Table]) -> list[ProfilingWindow]:
    windows = []
    for t in tables:
        d = ProfilingWindow(at="Mon 10:00")
        windows.append(
            ProfilingWindow(
                at=_sim(t, "at", None),
                seconds=t.number("seconds", d.seconds, above=0),
                components=t.strings("components", d.components),
            )
        )
        t.finish()
    return windows


def _monitoring(t: Table) -> Monitoring:
    d = Monitoring()
    mon = Monitoring(
        prometheus=t.string("prometheus", d.prometheus),
        alertmanager=t.string("alertmanager", ""),
        scrape_interval_s=t.number("scrape_interval_s", d.scrape_interval_s, minimum=0.5),
        require_prometheus=t.boolean("require_prometheus", d.require_prometheus),
    )
    t.finish()
    return mon


def parse_scenario(data: dict[str, Any], default_name: str, source: str = "") -> Scenario:
    top = Table(data, "")
    scenario = Scenario(
        name=top.string("name", default_name) or default_name,
        description=top.string("description", ""),
        target=_target(top.table("target")),
        shape=_shape(top.table("shape")),
        compression=_compression(top.table("compression")),
        load=_load(top.table("load")),
        mix=_mix(top.table("mix")),
        messages=_messages(top.table("messages")),
        abuse=_abuse(top.table("abuse")),
        sla=_sla(top.table("sla")),
        faults=_faults(top.tables("faults")),
        profiling=_profiling(top.tables("profiling")),
        monitoring=_monitoring(top.table("monitoring")),
        source=source,
    )
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", scenario.name):
        raise top.fail("name", "may only hold letters, digits, '.', '_' and '-' (it names the run folder)")
    top.finish()
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file; a bare name like 'week' means scenarios/week.toml."""
    p = Path(path)
    if not p.exists() and not p.suffix and (assets.scenarios_dir() / f"{p}.toml").exists():
        p = assets.scenarios_dir() / f"{p}.toml"
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from None
    return parse_scenario(data, p.stem, source=str(p))


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if v is not None and v != ""}
    if isinstance(value, (list, tuple)):
        return [_drop_empty(v) for v in value]
    return value


def resolved_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario with defaults filled in; env values that look secret are masked."""
    data = scenario.to_dict()
    data["sla"] = {f.name: getattr(scenario.sla, f.name) for f in fields(scenario.sla) if f.name in SLA_FIELDS}
    data["target"]["env"] = {k: ("***" if _SECRETISH.search(k) else v) for k, v in scenario.target.env.items()}
    data.pop("source")
    return _drop_empty(data)


def resolved_toml(scenario: Scenario) -> str:
    return tomli_w.dumps(resolved_dict(scenario))


def scenario_from_dict(data: dict[str, Any], source: str = "") -> Scenario:
    """Rebuild a Scenario from resolved_dict() output (how Locust workers receive it)."""
    return parse_scenario(data, data.get("name", "scenario"), source=source)
