"""Grafana dashboards (generated JSON under dashboards/grafana/dashboards/) and pushing them to a Grafana."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.grafana.boards import BOARDS

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = ROOT / "dashboards" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"


def dashboard_files() -> dict[Path, str]:
    """Dashboard JSON path -> text, as `harness dashboards generate` writes them."""
    return {DASHBOARDS_DIR / f"{name}.json": json.dumps(build(), indent=2) + "\n" for name, build in BOARDS.items()}


def load_dashboards(directory: Path = DASHBOARDS_DIR) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
