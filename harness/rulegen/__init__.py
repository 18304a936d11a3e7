"""Prometheus rules and their promtool tests, generated from harness/contract.py.

The committed files under dashboards/prometheus/ are this package's output; `harness dashboards
generate` rewrites them and `harness dashboards check` fails when they are stale, so the thresholds
in the rules, in the rule tests and in the report always come from one place.
"""

from __future__ import annotations

from pathlib import Path

from harness.rulegen import rules, slo
from harness.rulegen.model import DEFAULT_RUNBOOK_BASE, Alert, Group
from harness.rulegen.render import dump

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "dashboards" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
TESTS_DIR = PROMETHEUS_DIR / "tests"


def groups() -> list[Group]:
    return [
        rules.recording(),
        rules.host(),
        rules.security(),
        rules.messages(),
        rules.platform_api(),
        rules.stream(),
        *(slo.slo_group(s) for s in slo.SLOS),
    ]


def alerts() -> list[Alert]:
    return [a for g in groups() for a in g.alerts()]


def alert_names() -> list[str]:
    return sorted({a.name for a in alerts()})


def rule_files(runbook_base: str = DEFAULT_RUNBOOK_BASE) -> dict[Path, str]:
    """Rule file path -> YAML text."""
    return {RULES_DIR / f"{g.file}.yml": dump({"groups": [g.to_dict(runbook_base)]}) for g in groups()}


def test_files(runbook_base: str = DEFAULT_RUNBOOK_BASE) -> dict[Path, str]:
    """promtool test file path -> YAML text (one file per rule file that has alerts)."""
    from harness.rulegen.cases import test_documents

    return {TESTS_DIR / f"{name}.test.yml": dump(doc) for name, doc in test_documents(runbook_base).items()}


def generated(runbook_base: str = DEFAULT_RUNBOOK_BASE) -> dict[Path, str]:
    from harness.rulegen.doc_table import doc_file

    return {**rule_files(runbook_base), **test_files(runbook_base), **doc_file(ROOT, alerts())}


def stale(runbook_base: str = DEFAULT_RUNBOOK_BASE) -> list[Path]:
    """Generated files whose committed copy differs from what the generator writes now."""
    return [p for p, text in generated(runbook_base).items() if not p.exists() or p.read_text() != text]


def write(runbook_base: str = DEFAULT_RUNBOOK_BASE) -> list[Path]:
    written = []
    for path, text in generated(runbook_base).items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written
