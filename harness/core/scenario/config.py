"""Scenario files (TOML): load, validate, resolve. docs/scenarios.md is the reference.

`load_scenario(path)` returns a Scenario with every default filled in, or raises ScenarioError naming
the field that is wrong. `resolved_toml(scenario)` is what the run folder keeps (secrets masked).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import tomli_w

from harness.core import assets
from harness.core.config import ConfigError, load
from harness.core.scenario.schema import Scenario
from harness.core.secrets import mask_argv, mask_env

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ScenarioError(ConfigError):
    """A scenario file is invalid; the message names the field (e.g. `shape.peak_users: ...`)."""


def parse_scenario(data: Any, default_name: str, source: str = "") -> Scenario:
    """Validate a parsed scenario; a missing or empty `name` becomes `default_name`."""
    if isinstance(data, dict) and data.get("name") in (None, ""):
        data = {**data, "name": default_name}
    scenario = load(Scenario, data, ScenarioError)
    scenario._source = source
    return scenario


def read_scenario_data(path: str | Path) -> tuple[dict[str, Any], Path]:
    """A scenario file's TOML as parsed, not yet validated, and the file it came from; a bare name like
    'week' means scenarios/week.toml."""
    p = Path(path)
    if not p.exists() and not p.suffix and (assets.scenarios_dir() / f"{p}.toml").exists():
        p = assets.scenarios_dir() / f"{p}.toml"
    try:
        return tomllib.loads(p.read_text(encoding="utf-8")), p
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from None


def load_scenario(path: str | Path, hours: float | None = None) -> Scenario:
    """Load and validate a scenario file; a bare name like 'week' means scenarios/week.toml. `hours`
    (`harness run --hours`) replaces a real-time shape's `duration_s`."""
    data, p = read_scenario_data(path)
    if hours is not None:
        raw_shape = data.get("shape")
        shape: dict[str, Any] = raw_shape if isinstance(raw_shape, dict) else {}
        if shape.get("kind", "week") == "week":
            raise ScenarioError("--hours: only for the real-time shapes (smoke, spike, soak); this one is a week")
        data = {**data, "shape": {**shape, "duration_s": float(hours) * 3600}}
    return parse_scenario(data, p.stem, source=str(p))


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if v is not None and v != ""}
    if isinstance(value, (list, tuple)):
        return [_drop_empty(v) for v in value]
    return value


def resolved_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario with defaults filled in and secrets masked (harness.core.secrets): every
    `target.env` value not listed in `target.public_env`, and secret-looking command arguments."""
    data = scenario.to_dict()
    target = scenario.target
    data["target"]["env"] = mask_env(target.env, target.public_env)
    data["target"]["command"] = mask_argv(target.command)
    return _drop_empty(data)


def resolved_toml(scenario: Scenario) -> str:
    return tomli_w.dumps(resolved_dict(scenario))


def scenario_from_dict(data: dict[str, Any], source: str = "") -> Scenario:
    """Rebuild a Scenario from resolved_dict() output (how Locust workers receive it)."""
    return parse_scenario(data, data.get("name", "scenario"), source=source)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (scenarios/scenario.schema.json, `harness run --schema`)."""
    schema = Scenario.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": "harness scenario file"}


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
