"""A real Prometheus for the run: generated config, the project's rules, TSDB in the run folder, a check
that it loaded every shipped rule, and an alert poller that turns /api/v1/alerts into firing / resolved
lines in alerts.jsonl."""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

from harness.core import assets
from harness.core.runfolder.jsonlines import JsonLinesWriter
from harness.run.processes import Component

log = logging.getLogger("harness.run")
INSTALL_HINT = "install Prometheus 2.42+ (Debian/Ubuntu: apt-get install prometheus) or pass --prometheus PATH"

RULE_FILES = ("*.yml", "dashboards", "prometheus", "rules")  # what write_config copies, found by assets


class RulesNotLoaded(RuntimeError):
    """Prometheus runs without every shipped rule: its alerts would say nothing."""


def host_port(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.netloc, parts.path or "/metrics"


def duration(seconds: float) -> str:
    """A Prometheus duration: whole units only ("2s", "500ms"; "0.5s" is refused)."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def write_config(folder: Path, targets: dict[str, str], interval_s: float, alertmanager_url: str = "") -> Path:
    """prometheus.yml scraping each `job -> metrics URL`, with a copy of the project's rule files."""
    rules = folder / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    for rule_file in assets.asset_files(*RULE_FILES):
        shutil.copy(rule_file, rules / rule_file.name)
    interval = duration(max(interval_s, 0.5))
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": ["rules/*.yml"],
        "scrape_configs": [],
    }
    for job, url in targets.items():
        address, path = host_port(url)
        config["scrape_configs"].append(
            {"job_name": job, "metrics_path": path, "static_configs": [{"targets": [address]}]}
        )
    if alertmanager_url:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [urlsplit(alertmanager_url).netloc]}]}]}
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def component(binary: str, folder: Path, config: Path, port: int, log_path: Path) -> Component:
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=30d",
        "--log.level=warn",
    ]
    return Component("prometheus", argv, log_path, stop_grace_s=15)


def shipped_rules() -> dict[str, int]:
    """Rules per group in the shipped rule files, keyed `<file>:<group>` as rules_loaded keys them."""
    counts: dict[str, int] = {}
    for rule_file in assets.asset_files(*RULE_FILES):
        for group in (yaml.safe_load(rule_file.read_text()) or {}).get("groups") or []:
            counts[f"{rule_file.name}:{group['name']}"] = len(group.get("rules") or [])
    return counts


def rules_loaded(url: str) -> dict[str, int]:
    """Rules per group that the Prometheus at `url` evaluates (its /api/v1/rules)."""
    with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=10) as response:
        groups = json.load(response)["data"]["groups"]
    return {f"{Path(g['file']).name}:{g['name']}": len(g.get("rules") or []) for g in groups}


def rules_check(shipped: dict[str, int], loaded: dict[str, int]) -> dict[str, Any]:
    """The manifest's prometheus.rules: counts loaded and shipped, and what is missing (group, or
    `group (n of m rules)`); nothing missing means every shipped rule is evaluated."""
    missing = [
        group if not loaded.get(group) else f"{group} ({loaded[group]} of {count} rules)"
        for group, count in shipped.items()
        if loaded.get(group, 0) < count
    ]
    return {
        "groups_loaded": len(loaded),
        "rules_loaded": sum(loaded.values()),
        "groups_shipped": len(shipped),
        "rules_shipped": sum(shipped.values()),
        "missing": missing,
    }


def check_rules(url: str) -> dict[str, Any]:
    """rules_check() of the running Prometheus against the shipped rules; RulesNotLoaded when it cannot
    be asked. The caller decides what missing rules mean (for a run: a harness failure)."""
    try:
        loaded = rules_loaded(url)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RulesNotLoaded(f"could not read the rules Prometheus loaded from {url}/api/v1/rules: {exc}") from None
    return rules_check(shipped_rules(), loaded)


def missing_rules_text(rules: dict[str, Any], log_path: Path) -> str:
    """One line: how many shipped rules Prometheus did not load, which groups, and where to look."""
    return (
        f"Prometheus loaded {rules['rules_loaded']} of the {rules['rules_shipped']} shipped rules "
        f"({rules['groups_loaded']} of {rules['groups_shipped']} groups); missing: {', '.join(rules['missing'])}; "
        f"see {log_path} and prometheus/prometheus.yml"
    )


def _instant(url: str, query: str, at: float) -> dict[str, float]:
    """An instant PromQL query at unix time `at`: value by job."""
    params = urlencode({"query": query, "time": f"{at:.3f}"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=10) as response:
        result = json.load(response)["data"]["result"]
    return {r["metric"].get("job", "?"): float(r["value"][1]) for r in result}


def scrape_failures(url: str, since: float, until: float) -> dict[str, dict[str, int]] | None:
    """Scrapes per job between two unix times and how many failed (`up` was 0), from Prometheus' own
    record; None when it cannot be asked. The run's rig health reads it from the manifest."""
    window = f"{max(1, math.ceil(until - since))}s"
    try:
        scrapes = _instant(url, f"sum by (job) (count_over_time(up[{window}]))", until)
        good = _instant(url, f"sum by (job) (sum_over_time(up[{window}]))", until)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        log.warning("could not read Prometheus' scrape record: %s", exc)
        return None
    return {job: {"scrapes": int(n), "failed": int(n - good.get(job, 0.0))} for job, n in sorted(scrapes.items())}


class AlertPoller:
    """Diffs the set of firing alerts on each poll; writes a line when one starts or stops firing."""

    def __init__(self, url: str, out: JsonLinesWriter, clock: Callable[[], tuple[float | None, float | None]]):
        self.url = url
        self.out = out
        self.clock = clock
        self.firing: dict[str, dict[str, Any]] = {}
        self.errors = 0

    @staticmethod
    def _key(alert: dict[str, Any]) -> str:
        return json.dumps(alert["labels"], sort_keys=True)

    def poll(self) -> None:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/alerts", timeout=2) as r:
                alerts = json.load(r)["data"]["alerts"]
        except (OSError, ValueError, KeyError):
            self.errors += 1
            return
        now_firing = {self._key(a): a for a in alerts if a.get("state") == "firing"}
        wall, sim = self.clock()
        for key, alert in now_firing.items():
            if key not in self.firing:
                self._write(alert, "firing", wall, sim)
        for key, alert in self.firing.items():
            if key not in now_firing:
                self._write(alert, "resolved", wall, sim)
        self.firing = now_firing

    def _write(self, alert: dict[str, Any], state: str, wall: float | None, sim: float | None) -> None:
        labels = alert.get("labels", {})
        self.out.write(
            {
                "wall": wall,
                "sim": sim,
                "alertname": labels.get("alertname", ""),
                "severity": labels.get("severity", ""),
                "state": state,
                "labels": labels,
                "active_at": alert.get("activeAt"),
                "t": time.time(),
            }
        )

    def names_firing(self) -> list[str]:
        return sorted({a["labels"].get("alertname", "") for a in self.firing.values()})
