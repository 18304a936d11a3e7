"""The generated Prometheus rules: fresh, lint-clean, thresholds from the contract, and every alert
proven by promtool unit tests with a firing and a quiet case at its boundary."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from harness.core import assets
from harness.core.contract import LATENCY_QUANTILE, THRESHOLDS
from harness.observability import rules as rulegen
from harness.observability.rules import cases, slo
from tests.tools import needs_tool

pytestmark = [pytest.mark.integration, needs_tool("promtool")]

RULE_FILES = sorted(assets.rules_dir().glob("*.yml"))
TEST_FILES = sorted(assets.rule_tests_dir().glob("*.test.yml"))


def _alert_rules() -> list[dict]:
    return [r for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "alert" in r]


def test_committed_files_are_what_the_generator_writes() -> None:
    assert rulegen.stale() == [], "run `harness dashboards generate` and commit the result"
    assert set(RULE_FILES) == set(rulegen.rule_files()), "a rule file not written by the generator"


def test_rules_are_lint_clean() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _threshold(name: str, **labels: str) -> float:
    found = [r for r in _alert_rules() if r["alert"] == name and labels.items() <= r["labels"].items()]
    assert len(found) == 1, f"{name} {labels}: {len(found)} rules"
    return float(re.findall(r">\s*\(?([0-9.]+)", found[0]["expr"])[-1])


@pytest.mark.parametrize(
    ("alert", "expected"),
    [
        ("HostCpuHigh", THRESHOLDS.cpu_alert),
        ("HostCpuAboveTarget", THRESHOLDS.cpu_target),
        ("HostMemoryAboveTarget", THRESHOLDS.memory_target),
        ("AdminLoginFailuresHigh", THRESHOLDS.failed_logins_per_minute),
        ("MessageBacklogHigh", THRESHOLDS.backlog_alert),
        ("MessageLatencyP99High", THRESHOLDS.p99_latency_seconds),
    ],
)
def test_thresholds_in_rule_files_come_from_the_contract(alert: str, expected: float) -> None:
    assert _threshold(alert) == pytest.approx(expected)


def test_slo_burn_thresholds_come_from_the_contract() -> None:
    objectives = {"availability": THRESHOLDS.availability, "latency": LATENCY_QUANTILE}
    for rule in _alert_rules():
        if "slo" not in rule["labels"]:
            continue
        factor, budget = map(float, re.findall(r"> \(([0-9.]+) \* ([0-9.]+)\)", rule["expr"])[0])
        assert budget == pytest.approx(1 - objectives[rule["labels"]["slo"]])
        window = next(w for w in slo.BURN_WINDOWS if w.long == rule["labels"]["long_window"])
        assert (factor, rule["labels"]["short_window"]) == (window.factor, window.short)
    le = f'le="{THRESHOLDS.p99_latency_seconds}"'
    assert le in (assets.rules_dir() / "slo-latency.yml").read_text()


def test_every_alert_rule_has_a_firing_and_a_quiet_case() -> None:
    """Per rule (a burn-rate alert has one rule per window pair): some case expects it, some case
    checks its alertname at a boundary and does not expect it."""
    all_cases = [c for _, group in cases.all_cases().values() for c in group]
    for rule in rulegen.alerts():
        checked = [c for c in all_cases if c.alertname == rule.name]
        firing = [c for c in checked if any(e.rule == rule for e in c.expect)]
        quiet = [c for c in checked if all(e.rule != rule for e in c.expect)]
        label = f"{rule.name} {rule.labels}"
        assert firing, f"{label}: no promtool case where it fires"
        assert quiet, f"{label}: no promtool case where it stays quiet"


def test_every_alert_has_a_runbook_with_the_standard_sections() -> None:
    for name in rulegen.alert_names():
        page = assets.runbooks_dir() / f"{name}.md"
        assert page.exists(), f"{name}: no runbook at {page}"
        text = page.read_text()
        assert text.startswith(f"# {name}\n"), f"{page}: must start with '# {name}'"
        for section in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation"):
            assert f"\n{section}\n" in text, f"{page}: missing {section}"
    constant_value = {"StreamDisconnected", "ChatbotMetricsAbsent"}  # state alerts: $value says nothing
    for rule in _alert_rules():
        assert rule["annotations"]["runbook_url"].endswith(f"runbooks/{rule['alert']}.md")
        if rule["alert"] not in constant_value:
            assert "$value" in rule["annotations"]["description"], f"{rule['alert']}: description lacks the value"


def _failed_groups(path: Path) -> set[str]:
    """Run one promtool test file; the names of the groups it harness.analysis.report as failed."""
    result = subprocess.run(
        ["promtool", "test", "rules", path.name], cwd=path.parent, capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    failed = set(re.findall(r"^\s+name: (.*),$", output, flags=re.MULTILINE))
    if result.returncode != 0 and not failed:
        raise AssertionError(f"promtool could not run {path.name}:\n{output}")
    _outputs[path] = output
    return failed


_outputs: dict[Path, str] = {}
_failed_groups_cached = cache(_failed_groups)


def _groups() -> list[tuple[Path, str]]:
    return [(f, g["name"]) for f in TEST_FILES for g in yaml.safe_load(f.read_text())["tests"]]


@pytest.mark.parametrize(("test_file", "group"), _groups(), ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_promtool_group(test_file: Path, group: str) -> None:
    """promtool 2.42 has no --run: each file runs once, and each group's verdict is read from its output."""
    assert "," not in group, "group names are parsed from promtool's output and must not contain commas"
    if group in _failed_groups_cached(test_file):
        output = _outputs[test_file]
        pytest.fail(f"promtool: {output[output.index(f'name: {group},') :][:3000]}")


def test_a_wrong_expectation_is_reported_for_its_own_group(tmp_path: Path) -> None:
    """The per-group verdicts above are only as good as the output parsing: break one case on purpose."""
    document = yaml.safe_load((assets.rule_tests_dir() / "host.test.yml").read_text())
    document["rule_files"] = [str((assets.rule_tests_dir() / f).resolve()) for f in document["rule_files"]]
    firing = next(t for t in document["tests"] if t["alert_rule_test"][0]["exp_alerts"])
    firing["alert_rule_test"][0]["exp_alerts"] = []
    path = tmp_path / "broken.test.yml"
    path.write_text(yaml.safe_dump(document))
    assert _failed_groups(path) == {firing["name"]}
