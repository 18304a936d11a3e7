"""Checks of dashboard JSON that need no Grafana: structure, and each query turned into plain PromQL
(Grafana's variables and macros replaced) so a real Prometheus can run it."""

from __future__ import annotations

import re
from typing import Any

from harness.observability.grafana.model import queries

# What Grafana substitutes before a query reaches Prometheus, with values fit for a run's data.
MACROS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "10m",
    "${datasource}": "",
    "$job": ".*",
}
PANEL_KEYS = ("id", "type", "title", "gridPos", "datasource", "targets", "fieldConfig", "options")


def promql(expr: str, macros: dict[str, str] | None = None) -> str:
    """A dashboard query as Prometheus receives it. Template functions become the query they wrap."""
    for name, value in (macros or MACROS).items():
        expr = expr.replace(name, value)
    if left := re.findall(r"\$[A-Za-z_]\w*", expr):
        raise ValueError(f"unsubstituted variable(s) {left} in {expr!r}")
    if m := re.fullmatch(r"label_values\((.+),\s*(\w+)\)", expr.strip()):
        return m.group(1)
    if m := re.fullmatch(r"query_result\((.+)\)", expr.strip()):
        return m.group(1)
    return expr


def structure_problems(boards: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    uids = [b.get("uid") for b in boards]
    if len(set(uids)) != len(uids):
        problems.append(f"dashboard uids not unique: {uids}")
    for board in boards:
        name = board.get("uid", "?")
        for key in ("uid", "title", "schemaVersion", "panels", "templating", "annotations"):
            if key not in board:
                problems.append(f"{name}: missing {key}")
        ids = [p.get("id") for p in board.get("panels", [])]
        if len(set(ids)) != len(ids):
            problems.append(f"{name}: panel ids not unique")
        for panel in board.get("panels", []):
            where = f"{name}: panel {panel.get('title')!r}"
            grid = panel.get("gridPos", {})
            if grid.get("x", 0) + grid.get("w", 0) > 24:
                problems.append(f"{where}: wider than the 24-column grid")
            if panel.get("type") == "row":
                continue
            problems += [f"{where}: missing {k}" for k in PANEL_KEYS if k not in panel]
            if panel.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"{where}: must query the $datasource variable")
            for target in panel.get("targets", []):
                if not target.get("expr", "").strip():
                    problems.append(f"{where}: empty query {target.get('refId')}")
        for where, expr in queries(board):
            try:
                promql(expr)
            except ValueError as exc:
                problems.append(f"{name}: {where}: {exc}")
    return problems
