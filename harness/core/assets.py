"""Where the shipped assets are, found the same way from a checkout and from an installed wheel.

Everything goes through importlib.resources on the `harness.assets` package. A missing asset is a
loud AssetMissing naming what is missing, never an empty list that reads as "no rules, no alerts".
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


class AssetMissing(RuntimeError):
    """A file or folder the distribution ships is not there: the installation is broken."""


def asset_path(*parts: str) -> Path:
    """Real filesystem path of a shipped asset (Prometheus, amtool and Locust need paths, not streams)."""
    path = Path(str(files("harness.assets").joinpath(*parts)))
    if not path.exists():
        raise AssetMissing(f"shipped asset missing: {'/'.join(parts)} (looked in {path}); reinstall chatbot-harness")
    return path


def asset_files(pattern: str, *parts: str) -> list[Path]:
    """The files matching `pattern` in a shipped folder; an empty match is an error, not an empty answer."""
    found = sorted(asset_path(*parts).glob(pattern))
    if not found:
        raise AssetMissing(f"shipped asset folder {'/'.join(parts)} has no {pattern}; reinstall chatbot-harness")
    return found


def scenarios_dir() -> Path:
    return asset_path("scenarios")


def rules_dir() -> Path:
    return asset_path("dashboards", "prometheus", "rules")


def rule_tests_dir() -> Path:
    return asset_path("dashboards", "prometheus", "tests")


def grafana_dir() -> Path:
    return asset_path("dashboards", "grafana")


def alertmanager_config() -> Path:
    return asset_path("dashboards", "alertmanager", "alertmanager.yml")


def runbooks_dir() -> Path:
    return asset_path("runbooks")


def source_root() -> Path | None:
    """The checkout's root when running from one (the asset symlinks lead there), else None.

    Only `harness dashboards generate` needs it: it rewrites the committed assets and docs/alerts.md.
    """
    root = Path(str(files("harness.assets"))).joinpath("dashboards").resolve().parent
    return root if (root / "pyproject.toml").exists() and (root / "harness").is_dir() else None
