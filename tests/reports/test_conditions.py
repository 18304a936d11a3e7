"""How the run went (manifest generator_bound, warnings, prometheus) shown in every report format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.report.builder import build_report
from harness.bench.synthetic import SyntheticRun, write_run

pytestmark = pytest.mark.unit

HINT = "install Prometheus 2.42+ (Debian/Ubuntu: apt-get install prometheus) or pass --prometheus PATH"
BOUND_WARNING = "loadgen-worker-1 CPU above 90%: results may be generator-bound; add workers or machines"


def _run(tmp_path: Path, **manifest) -> Path:
    return write_run(tmp_path / "run", SyntheticRun(days=1, manifest_extra=manifest))


def test_generator_bound_run_without_prometheus_says_so_everywhere(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        generator_bound=True,
        warnings=[BOUND_WARNING, "bot wrote to stderr"],
        prometheus={"available": False, "reason": "prometheus not found", "hint": HINT},
    )
    report = build_report(run)
    conditions = json.loads(report.json_path.read_text())["conditions"]
    assert conditions["generator_bound"] is True
    assert conditions["alerts_evaluated"] is False
    assert conditions["prometheus"] == {
        "available": False,
        "reason": "prometheus not found",
        "hint": HINT,
        "url": None,
        "rules_loaded": True,  # not counted against it: Prometheus never started
        "gaps": [],
    }
    assert conditions["warnings"] == [BOUND_WARNING, "bot wrote to stderr"]

    summary = report.data.summary
    assert summary[1].startswith("Generator-bound:"), summary  # right under the verdict
    not_evaluated = [s for s in summary if s.startswith("Alerts were not evaluated")]
    assert not_evaluated and "prometheus not found" in not_evaluated[0] and HINT in not_evaluated[0]
    assert "No alert fired." not in summary  # without Prometheus, silence means nothing

    md = report.md_path.read_text()
    assert md.splitlines()[0].endswith("(generator-bound)")
    assert "## How the run went" in md and HINT in md and "- bot wrote to stderr" in md
    alerts_part = md.split("## Alerts", 1)[1].split("##", 1)[0]
    assert "Alerts were not evaluated" in alerts_part and "No alert fired" not in alerts_part

    html = report.html_path.read_text()
    assert 'id="generator-bound"' in html and 'id="alerts-not-evaluated"' in html
    assert "(generator-bound)</h1>" in html and "bot wrote to stderr" in html
    assert "No alert fired during the run" not in html


def test_ordinary_run_has_no_conditions_section(tmp_path: Path) -> None:
    report = build_report(write_run(tmp_path / "run", SyntheticRun(days=1)))
    conditions = report.data.conditions
    assert conditions.generator_bound is False and conditions.alerts_evaluated is True
    assert conditions.prometheus is not None and conditions.prometheus.available is True
    assert conditions.alertmanager is not None and conditions.alertmanager.available is False
    assert "No alert fired." in report.data.summary
    assert not any(s.startswith(("Generator-bound", "Alerts were not evaluated")) for s in report.data.summary)
    assert "How the run went" not in report.md_path.read_text()
    assert 'id="conditions"' not in report.html_path.read_text()


def test_older_manifests_boolean_or_missing_prometheus(tmp_path: Path) -> None:
    report = build_report(_run(tmp_path, prometheus=False))
    assert report.data.conditions.alerts_evaluated is False
    assert any(s.startswith("Alerts were not evaluated") for s in report.data.summary)
    missing = write_run(tmp_path / "old", SyntheticRun(days=1))
    manifest = json.loads((missing / "manifest.json").read_text())
    del manifest["prometheus"], manifest["warnings"], manifest["generator_bound"]
    (missing / "manifest.json").write_text(json.dumps(manifest))
    conditions = build_report(missing).data.conditions.model_dump()
    # the manifest does not say: the report claims nothing either way
    assert conditions == {
        "generator_bound": False,
        "prometheus": None,
        "alertmanager": conditions["alertmanager"],
        "alerts_evaluated": None,
        "warnings": [],
    }


def test_prometheus_without_the_shipped_rules_means_alerts_not_evaluated(tmp_path: Path) -> None:
    rules = {
        "groups_loaded": 1,
        "rules_loaded": 3,
        "groups_shipped": 8,
        "rules_shipped": 60,
        "missing": ["stream.yml:chatbot-stream"],
    }
    report = build_report(_run(tmp_path, prometheus={"available": True, "url": "http://127.0.0.1:1", "rules": rules}))
    conditions = report.data.conditions
    assert conditions.alerts_evaluated is False and conditions.prometheus.reason == "3 of 60 loaded"
    assert "Alerts were not evaluated: Prometheus did not load the shipped rules (3 of 60 loaded)." in (
        report.data.summary
    )
    assert "No alert fired" not in report.md_path.read_text()
    assert "No alert fired" not in report.html_path.read_text()
    complete = {**rules, "groups_loaded": 8, "rules_loaded": 60, "missing": []}
    report = build_report(_run(tmp_path / "all", prometheus={"available": True, "rules": complete}))
    assert report.data.conditions.alerts_evaluated is True and "No alert fired." in report.data.summary


def test_prometheus_down_mid_run_is_named_as_an_alert_gap_in_every_format(tmp_path: Path) -> None:
    """The manifest's prometheus.gaps (the run restarted a Prometheus that died): the report says alerts
    were not evaluated from t1 to t2, and from t1 to the end for one that did not come back."""
    gaps = [
        {
            "from_wall_s": 12.3,
            "from_sim": 36012.0,
            "to_wall_s": 15.6,
            "to_sim": 36015.0,
            "reason": "Prometheus exited with code -9; restarted",
        },
        {
            "from_wall_s": 40.0,
            "from_sim": 36040.0,
            "to_wall_s": None,
            "to_sim": None,
            "reason": "Prometheus exited with code 1; not restarted (it exited)",
        },
    ]
    run = _run(tmp_path, prometheus={"available": True, "url": "http://127.0.0.1:9", "gaps": gaps})
    report = build_report(run)
    data = json.loads(report.json_path.read_text())
    assert data["conditions"]["alerts_evaluated"] is True and data["conditions"]["prometheus"]["gaps"] == gaps
    expected = (
        "Alerts were not evaluated from 12 s to 16 s after the load started (simulated Mon 10:00 - Mon 10:00): "
        "Prometheus exited with code -9; restarted; and from 40 s after the load started to the end of the run "
        "(simulated Mon 10:00): Prometheus exited with code 1; not restarted (it exited)."
    )
    assert expected in report.md_path.read_text() and expected in report.html_path.read_text()
