"""`harness diagnose RUN_DIR`: explain message loss, 401 / 403 / 429 and slowness from a run folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.core.contract import ExitCode

HELP = "Explain message loss, 401/403/429 errors and slowness found in a run folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="the run folder (reports/<stamp>-<scenario>/)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")


def run(args: argparse.Namespace) -> int:
    from harness.analysis.report.builder import analyse
    from harness.core.runfolder.reader import NotARunFolder

    try:
        report = analyse(args.run_dir, strict=True)
    except NotARunFolder as exc:
        print(f"harness diagnose: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    findings = report.data.findings
    if args.json:
        print(json.dumps([f.as_dict() for f in findings], indent=2))
    elif not findings:
        print(f"no findings: nothing in {args.run_dir} needs explaining (verdict {report.verdict})")
    for n, f in enumerate([] if args.json else findings, 1):
        print(f"{n}. [{f.severity}] {f.title}\n   {f.what}")
        for e in f.evidence:
            print(f"   - {e.text}  ({e.source})")
        print(f"   likely cause: {f.cause}\n   what to do:   {f.action}\n   runbook:      {f.runbook}\n")
    for reason in report.data.incomplete_reasons:
        print(f"note: {reason}", file=sys.stderr)
    return ExitCode.SLA_BREACHED if findings else ExitCode.OK
