"""`harness report RUN_DIR [--baseline OTHER_RUN]`: write the SLA report into the run folder."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from harness.core.contract import ExitCode

HELP = "Build the SLA report (html, md, json, junit) from a run folder"


def tolerance(text: str) -> float:
    """A relative tolerance: a finite number >= 0 (argparse reports the error as a usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0 (0.10 = 10 %), got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="the run folder (reports/<stamp>-<scenario>/)")
    parser.add_argument("--baseline", type=Path, help="an earlier run folder to compare against (deltas per SLA)")
    parser.add_argument(
        "--tolerance",
        type=tolerance,
        default=None,
        help="relative worsening per SLA allowed before the comparison flags a regression, on top of each "
        "SLA's absolute noise floor (default 0.10; see docs/report.md)",
    )
    parser.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="compare with a baseline of another scenario, target or duration (refused otherwise)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the paths written")


def run(args: argparse.Namespace) -> int:
    from harness.analysis.report.builder import analyse, build_report
    from harness.analysis.report.compare import BaselineMismatch
    from harness.core.runfolder.diskspace import is_disk_full
    from harness.core.runfolder.reader import NotARunFolder

    for label, path in (("RUN_DIR", args.run_dir), ("--baseline", args.baseline)):
        if path is not None and not path.is_dir():
            print(f"harness report: {label} {path} is not a directory", file=sys.stderr)
            return ExitCode.USAGE
    try:
        report = build_report(args.run_dir, args.baseline, tolerance=args.tolerance, allow_mismatch=args.allow_mismatch)
    except (NotARunFolder, BaselineMismatch) as exc:
        print(f"harness report: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        # what there is, on the terminal, since it cannot go into the folder
        for line in analyse(args.run_dir).data.summary:
            print(line)
        print(f"harness report: report files NOT written (may be incomplete) in {args.run_dir}: {exc}", file=sys.stderr)
        return ExitCode.HARNESS_ERROR
    if not args.quiet:
        for line in report.data.summary:
            print(line)
    for path in report.paths.values():
        print(f"wrote {path}")
    return report.exit_code
