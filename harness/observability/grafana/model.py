"""Small builders for Grafana dashboard JSON (schema 39): just the panel kinds the dashboards use.

Panels are laid out left to right in rows of 24 grid units; every panel queries the `$datasource`
variable, so the dashboards work with any Prometheus datasource a user picks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
TAG = "chatbot-harness"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Line:
    """A threshold drawn on a panel (value in the panel's unit)."""

    value: float
    color: str = "red"


@dataclass
class Panel:
    title: str
    queries: list[Query]
    kind: str = "timeseries"  # timeseries | stat
    unit: str = "short"
    lines: list[Line] = field(default_factory=list)
    description: str = ""
    width: int = 12
    height: int = 8
    decimals: int | None = None
    stack: bool = False
    mappings: list[dict[str, Any]] = field(default_factory=list)
    base: str = "green"  # colour below the first line

    def to_dict(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        steps: list[dict[str, Any]] = [{"color": self.base, "value": None}]
        steps += [{"color": line.color, "value": line.value} for line in sorted(self.lines, key=lambda x: x.value)]
        defaults: dict[str, Any] = {
            "unit": self.unit,
            "thresholds": {"mode": "absolute", "steps": steps},
            "mappings": self.mappings,
        }
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.kind == "timeseries":
            defaults["custom"] = {
                "drawStyle": "line",
                "lineWidth": 1,
                "fillOpacity": 10,
                "showPoints": "never",
                "spanNulls": False,
                "thresholdsStyle": {"mode": "line" if self.lines else "off"},
                "stacking": {"mode": "normal" if self.stack else "none", "group": "A"},
            }
            options: dict[str, Any] = {
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"},
            }
        else:
            defaults["color"] = {"mode": "thresholds"}
            options = {
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "value",
                "graphMode": "area",
                "textMode": "auto",
                "justifyMode": "auto",
            }
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "targets": [
                {
                    "refId": chr(ord("A") + i),
                    "datasource": DATASOURCE,
                    "expr": q.expr,
                    "legendFormat": q.legend,
                    "range": not q.instant,
                    "instant": q.instant,
                }
                for i, q in enumerate(self.queries)
            ],
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options,
        }


@dataclass
class Row:
    title: str
    panels: list[Panel]


def variables(extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    datasource = {
        "name": "datasource",
        "label": "Datasource",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "options": [],
        "regex": "",
    }
    job = {
        "name": "job",
        "label": "Bot job",
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": "label_values(chatbot_build_info, job)", "refId": "job"},
        "definition": "label_values(chatbot_build_info, job)",
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,
        "hide": 0,
        "options": [],
        "regex": "",
        "sort": 1,
    }
    return {"list": [datasource, job, *(extra or [])]}


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: list[Row],
    extra_variables: list[dict[str, Any]] | None = None,
    annotations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    panel_id, y = 1, 0
    for row in rows:
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        panel_id, y, x, row_height = panel_id + 1, y + 1, 0, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panels.append(panel.to_dict(panel_id, x, y))
            panel_id, x, row_height = panel_id + 1, x + panel.width, max(row_height, panel.height)
        y += row_height
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [TAG],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,  # shared crosshair: read any wall time off the simulated-clock panel
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "templating": variables(extra_variables),
        "annotations": {"list": [builtin, *(annotations or [])]},
        "links": [
            {
                "type": "dashboards",
                "tags": [TAG],
                "asDropdown": True,
                "title": "Chatbot dashboards",
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "panels": panels,
    }


def queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr) of every PromQL query in a dashboard: panel targets, variables, annotations."""
    found = [(f"panel {p['title']!r}", t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            found.append((f"variable {var['name']}", var["query"]["query"]))
    for ann in board["annotations"]["list"]:
        if "expr" in ann:
            found.append((f"annotation {ann['name']!r}", ann["expr"]))
    return found
