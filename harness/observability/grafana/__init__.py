"""Grafana dashboards (generated JSON under dashboards/grafana/dashboards/) and pushing them to a Grafana."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.core import assets
from harness.observability.grafana.boards import BOARDS


def dashboard_files() -> dict[Path, str]:
    """Dashboard JSON path -> text, as `harness dashboards generate` writes them."""
    return {dashboards_dir() / f"{name}.json": json.dumps(build(), indent=2) + "\n" for name, build in BOARDS.items()}


def dashboards_dir() -> Path:
    return assets.grafana_dir() / "dashboards"


def load_dashboards(directory: Path | None = None) -> list[dict[str, Any]]:
    directory = directory or dashboards_dir()
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
