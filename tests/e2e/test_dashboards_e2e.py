"""Every dashboard query (panels, variables, annotations) parses and returns data in a real Prometheus
holding a real run's metrics: the compressed default week's TSDB, replayed after the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.observability import grafana
from harness.observability.grafana.checks import MACROS, promql
from harness.observability.grafana.model import queries
from tests.observability.replay import ReplayPrometheus
from tests.tools import needs_tool, skip_missing

pytestmark = [pytest.mark.e2e, pytest.mark.solo, needs_tool("prometheus")]

QUERIES = [(b["uid"], where, expr) for b in grafana.load_dashboards() for where, expr in queries(b)]


@pytest.fixture(scope="module")
def replay(week_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReplayPrometheus, dict]]:
    manifest = json.loads((week_run / "manifest.json").read_text())
    if not manifest.get("prometheus", {}).get("available"):
        skip_missing("Prometheus in the week run (its manifest says it was not available)")
    with ReplayPrometheus(week_run, tmp_path_factory.mktemp("replay")) as prom:
        yield prom, manifest


@pytest.mark.parametrize(("uid", "where", "expr"), QUERIES, ids=[f"{u}: {w}" for u, w, _ in QUERIES])
def test_query_returns_data(replay: tuple[ReplayPrometheus, dict], uid: str, where: str, expr: str) -> None:
    prom, manifest = replay
    start, end = manifest["started_at"], manifest["ended_at"]
    query = promql(expr, {**MACROS, "$__range": f"{max(int(end - start), 10)}s"})
    result = prom.query_range(query, start, end, 2)
    assert result, f"{uid} {where}: no data over the run for {query}"
