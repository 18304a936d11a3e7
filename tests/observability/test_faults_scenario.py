"""The e2e faults scenario is valid and covers what the alert proof claims (fast: no run)."""

from __future__ import annotations

import pytest
import tomllib

from harness.core.scenario.config import parse_scenario
from harness.observability import rules as rulegen
from tests.e2e.runs_faults import EXPECTED_FIRING, EXPECTED_INHIBITED, EXPECTED_ROUTED, FAULTS_SCENARIO, HOST_CPU_ALERTS

pytestmark = pytest.mark.unit


def test_faults_scenario_is_valid() -> None:
    scenario = parse_scenario(tomllib.loads(FAULTS_SCENARIO), "alerts-e2e")
    assert scenario.abuse.logins_per_minute > 0
    applied = {key for fault in scenario.faults for key in fault.set}
    assert {"errors", "qps_limits", "qps_mode", "push_drop_ratio"} <= applied


def test_expectations_name_real_alerts() -> None:
    names = set(rulegen.alert_names())
    assert {name for name, _ in EXPECTED_FIRING} <= names
    assert {name for _, name in EXPECTED_ROUTED} | EXPECTED_INHIBITED | HOST_CPU_ALERTS <= names
    assert {name for name, _ in EXPECTED_FIRING} >= EXPECTED_INHIBITED
