"""The published JSON Schema of scenario files is generated from the model and kept in step with it."""

import json

import pytest

from harness.cli.main import main
from harness.core import assets
from harness.core.contract import ExitCode
from harness.core.scenario.config import json_schema, json_schema_text
from harness.core.scenario.schema import Scenario

pytestmark = pytest.mark.unit

SCHEMA_FILE = assets.scenarios_dir() / "scenario.schema.json"


def test_the_committed_schema_is_what_the_model_generates():
    assert SCHEMA_FILE.read_text() == json_schema_text(), (
        "scenarios/scenario.schema.json is stale: regenerate it with "
        "`harness run --schema > scenarios/scenario.schema.json`"
    )


def test_harness_run_schema_prints_it(capsys):
    assert main(["run", "--schema"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert json.loads(out) == json_schema() and out == SCHEMA_FILE.read_text()


def test_the_schema_covers_every_field_and_refuses_unknown_ones():
    schema = json_schema()
    assert set(schema["properties"]) == set(Scenario.model_fields)
    assert schema["additionalProperties"] is False
    assert all(d.get("additionalProperties") is False for d in schema["$defs"].values() if d.get("type") == "object")
    fault = schema["$defs"]["RunFault"]  # `set` or `process`: only `at` is required
    assert fault["required"] == ["at"] and fault["properties"]["set"]["$ref"] == "#/$defs/FaultSwitches"
    assert fault["properties"]["process"]["anyOf"][0]["enum"] == ["kill", "stop", "cont", "restart"]
    assert set(schema["properties"]["sla"]["default"]) == set(schema["$defs"]["Sla"]["properties"])


def test_shipped_scenarios_point_editors_at_the_schema():
    for path in assets.scenarios_dir().glob("*.toml"):
        assert path.read_text().startswith("#:schema ./scenario.schema.json\n"), path.name
