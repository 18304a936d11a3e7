"""Experiment files (TOML, docs/experiments.md): one scenario played for each of several arms.

An arm is the base scenario with overrides: `scenario` (any scenario fields, merged table by table)
and `bot` (reference-bot config fields, merged into `[target.config]`). The first arm is the control
the others are compared with. `load_experiment(path)` validates the file and every arm's scenario,
naming the field that is wrong, before anything runs.
"""

from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from harness.core import assets
from harness.core.config import ConfigError, ConfigModel, FieldProblem, load
from harness.core.scenario.config import ScenarioError, parse_scenario, read_scenario_data
from harness.core.scenario.schema import Scenario

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ExperimentError(ConfigError):
    """An experiment file is invalid; the message names the field (e.g. `arms[1] (cache): shape.users: ...`)."""


class Arm(ConfigModel):
    """One way of running the scenario."""

    name: str = Field(description="names the arm in the report and its runs' folders")
    label: str = Field("", description='how the report\'s sentences name it, e.g. "the cache"; default: its name')
    scenario: dict[str, Any] = Field(
        {}, description="scenario fields to override, e.g. {messages = {repeat_share = 0.6}}"
    )
    bot: dict[str, Any] = Field(
        {}, description="reference-bot config fields, e.g. {answer_cache.enabled = true}; merged into [target.config]"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("must not be empty")
        return name

    @property
    def slug(self) -> str:
        """The name as it can appear in a folder name."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", self.name.strip()).strip("-") or "arm"

    @property
    def called(self) -> str:
        return self.label or self.name


class ExperimentFile(ConfigModel):
    """An experiment file. `scenario` and at least two `[[arms]]` are required."""

    name: str = Field("", description="names the experiment's folder; default: the file's name")
    description: str = Field("", description="what the experiment asks, shown in the report")
    claim: str = Field("", description="the claim under test (e.g. the source design's), shown beside the result")
    scenario: str | dict[str, Any] = Field(
        description="the base scenario: a file (relative to this one) or a shipped scenario's name, or an inline table"
    )
    repetitions: int = Field(3, ge=1, le=100, description="runs per arm, played interleaved: A B A B ...")
    confidence: float = Field(0.95, ge=0.5, le=0.999, description="confidence level of the intervals")
    bootstrap_samples: int = Field(2000, ge=100, le=100_000, description="bootstrap resamples per interval")
    seed: int = Field(1, ge=0, description="seed of the bootstrap, so a report can be rebuilt exactly")
    arms: list[Arm] = Field(min_length=2, description="the first arm is the control the others are compared with")

    @field_validator("arms")
    @classmethod
    def _distinct(cls, arms: list[Arm]) -> list[Arm]:
        seen: set[str] = set()
        for i, arm in enumerate(arms):
            if arm.slug in seen:
                raise FieldProblem(i, f"arm name {arm.name!r} is used twice (as a folder name)")
            seen.add(arm.slug)
        return arms


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: its file's settings and each arm's complete scenario."""

    name: str
    source: str
    file: ExperimentFile
    scenarios: dict[str, Scenario]  # arm name -> its scenario

    @property
    def arms(self) -> list[Arm]:
        return self.file.arms


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` laid over it, table by table (a change never drops a sibling field)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def arm_scenario_data(base: dict[str, Any], arm: Arm) -> dict[str, Any]:
    data = merged(base, arm.scenario)
    if arm.bot:
        data = merged(data, {"target": {"config": arm.bot}})
    return data


def parse_experiment(data: Any, default_name: str, folder: Path, source: str = "") -> Experiment:
    spec = load(ExperimentFile, data, ExperimentError)
    name = spec.name or default_name
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ExperimentError(
            f"name: may only hold letters, digits, '.', '_' and '-' (it names a folder), got {name!r}"
        )
    if isinstance(spec.scenario, str):
        relative = folder / spec.scenario
        try:
            base, path = read_scenario_data(relative if relative.exists() else spec.scenario)
        except ScenarioError as exc:
            raise ExperimentError(f"scenario: {exc}") from None
        scenario_source = str(path)
    else:
        base, scenario_source = spec.scenario, source
    scenarios: dict[str, Scenario] = {}
    for i, arm in enumerate(spec.arms):
        run_name = f"{name}-{arm.slug}"
        try:
            scenarios[arm.name] = parse_scenario(
                {**arm_scenario_data(base, arm), "name": run_name}, run_name, scenario_source
            )
        except ScenarioError as exc:
            raise ExperimentError(f"arms[{i}] ({arm.name}): {exc}") from None
    return Experiment(name, source, spec, scenarios)


def load_experiment(path: str | Path) -> Experiment:
    """Load and validate an experiment file; a bare name like 'answer-cache' means a shipped one
    (scenarios/experiments/answer-cache.toml)."""
    p = Path(path)
    shipped = assets.scenarios_dir() / "experiments" / f"{p}.toml"
    if not p.exists() and not p.suffix and shipped.exists():
        p = shipped
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such experiment file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{p}: not valid TOML: {exc}") from None
    return parse_experiment(data, p.stem, p.parent, source=str(p))
