"""Experiment files: arms as overrides of one scenario, checked before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.main import main
from harness.core import assets
from harness.core.contract import ExitCode
from harness.core.experiment import ExperimentError, load_experiment, merged, parse_experiment

pytestmark = pytest.mark.unit

BASE = {
    "shape": {"kind": "smoke", "users": 5, "duration_s": 20},
    "target": {"engine": {"first_token_seconds": 0.3}, "config": {"buffer": {"workers": 50}}},
    "messages": {"repeat_share": 0.5},
}


def experiment(**fields):
    data = {"scenario": BASE, "arms": [{"name": "off"}, {"name": "on", "bot": {"answer_cache": {"enabled": True}}}]}
    return parse_experiment({**data, **fields}, "exp", Path("."))


def test_an_arm_is_the_base_scenario_with_its_overrides_laid_over_it():
    exp = experiment(
        arms=[
            {"name": "off"},
            {
                "name": "on cache",
                "scenario": {"shape": {"users": 9}, "messages": {"popular_questions": 7}},
                "bot": {"answer_cache": {"enabled": True}, "logging.queue": True},
            },
        ]
    )
    off, on = exp.scenarios["off"], exp.scenarios["on cache"]
    assert (off.shape.users, on.shape.users) == (5, 9)
    assert on.shape.duration_s == 20 and on.messages.repeat_share == 0.5 and on.messages.popular_questions == 7
    assert off.target.bot_settings() == {"buffer.workers": 50}
    assert on.target.bot_settings() == {"buffer.workers": 50, "answer_cache.enabled": True, "logging.queue": True}
    assert (off.name, on.name) == ("exp-off", "exp-on-cache")
    assert exp.arms[1].slug == "on-cache" and exp.arms[1].called == "on cache"


def test_merging_never_drops_a_sibling_and_leaves_the_base_alone():
    base = {"a": {"b": 1, "c": {"d": 2}}}
    assert merged(base, {"a": {"c": {"e": 3}}}) == {"a": {"b": 1, "c": {"d": 2, "e": 3}}}
    assert base == {"a": {"b": 1, "c": {"d": 2}}}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"arms": [{"name": "only"}]}, "arms: must have at least 2 item(s)"),
        ({"arms": [{"name": "a b"}, {"name": "a-b"}]}, "arms[1]: arm name 'a-b' is used twice"),
        ({"repetitions": 0}, "repetitions: must be between 1 and 100, got 0"),
        (
            {"arms": [{"name": "x"}, {"name": "y", "scenario": {"shape": {"users": 0}}}]},
            "arms[1] (y): shape.users: must be between 1 and 1000000, got 0",
        ),
        (
            {
                "arms": [
                    {"name": "x"},
                    {"name": "y", "scenario": {"target": {"kind": "url", "platform_url": "http://p"}}},
                ]
            },
            "arms[1] (y): target.engine: only applies to the built-in reference bot",
        ),
        ({"scenario": "no-such-scenario.toml"}, "scenario: no-such-scenario.toml: no such scenario file"),
        ({"name": "a b"}, "name: may only hold letters"),
    ],
)
def test_a_bad_experiment_is_refused_naming_the_field(fields, problem):
    with pytest.raises(ExperimentError) as caught:
        experiment(**fields)
    assert str(caught.value).startswith(problem), str(caught.value)


@pytest.mark.parametrize("name", ["answer-cache", "queue-logging", "quantised-engine", "all-optimisations"])
def test_the_shipped_experiments_load_by_name_and_fit_in_a_few_minutes(name, capsys):
    exp = load_experiment(name)
    assert exp.source == str(assets.scenarios_dir() / "experiments" / f"{name}.toml")
    assert exp.file.claim and len(exp.arms) == 2
    assert main(["experiment", name, "--check"]) == ExitCode.OK
    minutes = int(capsys.readouterr().out.rsplit("about ", 1)[1].split()[0])
    assert minutes <= 10


def test_a_bad_experiment_file_is_a_usage_error(tmp_path: Path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('scenario = "smoke"\n[[arms]]\nname = "one"\n')
    assert main(["experiment", str(bad)]) == ExitCode.USAGE
    assert "bad experiment: arms: must have at least 2 item(s)" in capsys.readouterr().err
