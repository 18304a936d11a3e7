"""docs/metrics.md documents every metric of the contract, with its kind and labels."""

import re
from pathlib import Path

import pytest

from harness.core.contract import METRICS

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_every_metric_in_the_contract_is_documented_with_kind_and_labels():
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\| `([a-zA-Z_]+)` \| (\w+) \|([^|]*)\|", line)
        if match:
            rows[match.group(1)] = (match.group(2), re.findall(r"`(\w+)`", match.group(3)))
    missing = sorted(set(METRICS) - set(rows))
    assert not missing, f"docs/metrics.md does not document {missing}"
    for name, metric in METRICS.items():
        kind, labels = rows[name]
        assert kind == metric.kind, name
        assert tuple(labels) == metric.labels, name
    assert not set(rows) - set(METRICS), "docs/metrics.md documents metrics that are not in the contract"
