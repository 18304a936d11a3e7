"""The typed report model: the verdict is a structure, report.json has the published schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.analysis.report.builder import build_report
from harness.analysis.report.model import Comparison, ComparisonRow, ReportData, SlaVerdict, Verdict, judge
from harness.analysis.report.schema import schema_text
from harness.bench.synthetic import SyntheticRun, write_run
from harness.core.contract import ExitCode

pytestmark = pytest.mark.unit

SCHEMA = Path(__file__).parents[2] / "docs" / "report.schema.json"


def _sla(sla_id: str, status: str) -> SlaVerdict:
    value = None if status == "no_data" else 1.0
    return SlaVerdict(
        id=sla_id, name=sla_id, value=value, threshold=0.5, unit="s", op="<", status=status, margin=None, source="test"
    )


def _comparison(*regressed: str) -> Comparison:
    rows = [
        ComparisonRow(
            id=i,
            name=i,
            unit="s",
            value=1.0,
            baseline=0.5,
            status="pass",
            baseline_status="pass",
            delta=0.5,
            relative_worsening=1.0,
            regression=True,
        )
        for i in regressed
    ]
    return Comparison(
        baseline_dir="runs/base", baseline_verdict=Verdict.PASS, tolerance=0.1, slas=rows, not_in_baseline=[]
    )


def test_the_verdict_and_its_reasons() -> None:
    passed, failed = _sla("p99_overall", "pass"), _sla("cpu", "fail")
    assert judge([passed], [], None).verdict is Verdict.PASS
    assert judge([passed], [], _comparison()).verdict is Verdict.PASS
    regression = judge([passed], [], _comparison("p99_overall"))
    assert (regression.verdict, regression.breached) == (Verdict.FAIL, [])
    assert [r.id for r in regression.regressed] == ["p99_overall"]
    both = judge([passed, failed], [], _comparison("p99_overall"))
    assert both.verdict is Verdict.FAIL and both.breached == [failed] and len(both.regressed) == 1
    incomplete = judge([failed], ["samples.jsonl is missing"], _comparison("p99_overall"))
    assert incomplete.verdict is Verdict.INCOMPLETE and incomplete.incomplete == ["samples.jsonl is missing"]
    assert [v.exit_code for v in Verdict] == [
        ExitCode.OK,
        ExitCode.SLA_BREACHED,
        ExitCode.INCONCLUSIVE,
        ExitCode.ABORTED,
    ]
    assert f"{Verdict.FAIL}" == str(Verdict.FAIL) == "FAIL"


def test_a_failure_only_where_the_rig_did_not_hold_is_inconclusive_and_a_real_one_still_fails() -> None:
    rig_bound = _sla("p99_overall", "fail").model_copy(update={"rig_bound": True, "healthy_status": "pass"})
    alone = judge([rig_bound], [], None)
    assert (alone.verdict, alone.breached, alone.rig_bound) == (Verdict.INCONCLUSIVE, [], [rig_bound])
    assert alone.verdict.exit_code == ExitCode.INCONCLUSIVE
    real = _sla("cpu", "fail")
    assert judge([rig_bound, real], [], None).verdict is Verdict.FAIL  # the bot's own breach decides
    assert judge([rig_bound], ["ledger.json is missing"], None).verdict is Verdict.INCOMPLETE
    comparison = _comparison("p99_overall")
    noisy = comparison.model_copy(update={"slas": [r.model_copy(update={"rig_bound": True}) for r in comparison.slas]})
    regressed = judge([_sla("p99_overall", "pass")], [], noisy)
    assert (regressed.verdict, regressed.regressed, len(regressed.rig_regressed)) == (Verdict.INCONCLUSIVE, [], 1)


def test_the_committed_schema_is_generated_from_the_model() -> None:
    assert SCHEMA.read_text() == schema_text(), (
        "docs/report.schema.json is stale: run `python -m harness.analysis.report.schema > docs/report.schema.json`"
    )


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("model")
    base = write_run(root / "base", SyntheticRun(days=2, base_latency_s=0.03))
    spec = SyntheticRun(
        days=2,
        base_latency_s=0.06,
        slow_peak_days=(1,),
        lost={"not_acked": 2},
        api_errors={("card_streaming", 429, "Throttling"): 20},
    )
    return build_report(write_run(root / "worse", spec), base).json_path


def test_a_built_report_json_is_the_model_round_tripped(compared: Path) -> None:
    on_disk = json.loads(compared.read_text())
    assert on_disk["baseline"]["regressions"] > 0 and on_disk["findings"] and on_disk["api_errors"]
    model = ReportData.model_validate_json(compared.read_text())  # every key known, every type right
    assert model.model_dump(mode="json") == on_disk  # and nothing lost or recomputed differently
    schema = json.loads(SCHEMA.read_text())
    assert set(schema["required"]) <= set(on_disk) <= set(schema["properties"])
    assert list(on_disk)[:4] == ["schema_version", "generated_at", "verdict", "exit_code"]


def test_what_is_not_of_the_schema_is_refused_and_derived_fields_are_recomputed(compared: Path) -> None:
    on_disk = json.loads(compared.read_text())
    with pytest.raises(ValidationError, match="unknown_field"):
        ReportData.model_validate({**on_disk, "unknown_field": 1})
    with pytest.raises(ValidationError, match=r"slas\.0\.status"):
        ReportData.model_validate({**on_disk, "slas": [{**on_disk["slas"][0], "status": "maybe"}]})
    tampered = ReportData.model_validate({**on_disk, "verdict": "PASS", "exit_code": 0, "summary": ["all fine"]})
    assert (tampered.verdict, tampered.exit_code) == (Verdict.FAIL, ExitCode.SLA_BREACHED)
    assert tampered.summary == on_disk["summary"]
