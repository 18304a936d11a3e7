"""`harness dashboards`: generate, check and push the observability assets.

harness dashboards generate [--runbook-base URL]   rules, rule tests, dashboards from the contract
harness dashboards check                           stale files, promtool, amtool, dashboard JSON
harness dashboards push --url URL [--token T] [--folder NAME]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.core.contract import ExitCode

HELP = "Generate, check or push the Prometheus rules, Alertmanager routing and Grafana dashboards"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="rewrite rules, rule tests and dashboards from the contract (in a checkout)")
    check = sub.add_parser("check", help="fail on stale generated files, promtool / amtool errors, bad dashboards")
    for p in (gen, check):
        p.add_argument(
            "--runbook-base", default=None, help="prefix of runbook_url (default: runbooks/ in this repository)"
        )
    push = sub.add_parser("push", help="push the dashboards to Grafana (into a folder, overwriting)")
    push.add_argument("--url", required=True, help="Grafana base URL, e.g. http://grafana:3000")
    push.add_argument(
        "--token",
        default=os.environ.get("GRAFANA_TOKEN", ""),
        help="service account token (default: env GRAFANA_TOKEN)",
    )
    push.add_argument("--folder", default=None, help="folder title (default: 'Chatbot harness')")
    push.add_argument("--dir", type=Path, default=None, help="dashboard JSON folder (default: the shipped ones)")


def _generated(runbook_base: str | None) -> dict[Path, str]:
    from harness.observability import grafana
    from harness.observability import rules as rulegen
    from harness.observability.rules.model import DEFAULT_RUNBOOK_BASE

    return {**rulegen.generated(runbook_base or DEFAULT_RUNBOOK_BASE), **grafana.dashboard_files()}


def _shown(path: Path) -> str:
    from harness.core import assets

    root = assets.source_root()
    return str(path.resolve().relative_to(root)) if root else str(path)


def generate(args: argparse.Namespace) -> int:
    from harness.core import assets

    if assets.source_root() is None:
        print(
            "harness dashboards generate rewrites the committed assets: run it from a checkout of the "
            "project (an installed harness ships them ready-made)",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    for path, text in _generated(args.runbook_base).items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {_shown(path)}")
    return ExitCode.OK


def _tool(argv: list[str], cwd: Path | None = None) -> str | None:
    """Run a check tool; None when it passed, else what it said."""
    if shutil.which(argv[0]) is None:
        return f"{argv[0]} not found (apt-get install prometheus prometheus-alertmanager)"
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    return None if result.returncode == 0 else (result.stdout + result.stderr).strip()


def check(args: argparse.Namespace) -> int:
    from harness.core import assets
    from harness.observability import grafana
    from harness.observability.grafana.checks import structure_problems

    problems: list[str] = []
    stale = [p for p, text in _generated(args.runbook_base).items() if not p.exists() or p.read_text() != text]
    problems += [f"stale: {_shown(p)} (run `harness dashboards generate`)" for p in stale]
    rule_files = [str(p) for p in assets.asset_files("*.yml", "dashboards", "prometheus", "rules")]
    checks = [
        ["promtool", "check", "rules", "--lint=all", "--lint-fatal", *rule_files],
        ["amtool", "check-config", str(assets.alertmanager_config())],
    ]
    tests_dir = assets.rule_tests_dir()
    rule_tests = assets.asset_files("*.test.yml", "dashboards", "prometheus", "tests")
    checks += [["promtool", "test", "rules", p.name] for p in rule_tests]
    for argv in checks:
        said = _tool(argv, cwd=tests_dir)
        if said:
            problems.append(f"{' '.join(argv[:3])}: {said}")
    problems += structure_problems(grafana.load_dashboards())
    for problem in problems:
        print(problem, file=sys.stderr)
    print("dashboards check: " + (f"{len(problems)} problem(s)" if problems else "ok"))
    return 1 if problems else ExitCode.OK  # 1 = problems found, as linters do


def push(args: argparse.Namespace) -> int:
    from harness.observability import grafana
    from harness.observability.grafana.push import DEFAULT_FOLDER
    from harness.observability.grafana.push import push as push_boards

    if not args.token:
        print("no Grafana token: pass --token or set GRAFANA_TOKEN", file=sys.stderr)
        return ExitCode.USAGE
    boards = grafana.load_dashboards(args.dir) if args.dir else grafana.load_dashboards()
    if not boards:
        print(f"no dashboard JSON found in {args.dir or grafana.dashboards_dir()}", file=sys.stderr)
        return ExitCode.USAGE
    folder = args.folder or DEFAULT_FOLDER
    try:
        pushed = push_boards(args.url, args.token, boards, folder)
    except Exception as exc:  # grafana-client raises its own hierarchy plus transport errors
        print(f"push to {args.url} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return ExitCode.HARNESS_ERROR
    for p in pushed:
        print(f"pushed {p.title!r} to folder {folder!r}: {args.url.rstrip('/')}{p.url} (version {p.version})")
    return ExitCode.OK


def run(args: argparse.Namespace) -> int:
    return {"generate": generate, "check": check, "push": push}[args.action](args)
