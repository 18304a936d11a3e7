"""`harness bench`: run the benchmarks of harness.bench (each prints ratios against an in-run baseline)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from harness.bench import BENCHMARKS
from harness.core.contract import ExitCode

HELP = "Run the performance benchmarks and print ratios against in-run baselines"
UNREPEATED = ("chaos", "report")  # their figures are counts, or they take no --repeat


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="shorter runs, for a smoke check")
    parser.add_argument("--repeat", type=int, metavar="N", help="repetitions of each benchmark's phases (default 2)")


def run(args: argparse.Namespace) -> int:
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return ExitCode.USAGE
    worst = 0
    for name in names:
        print(f"== bench {name}: {BENCHMARKS[name]}", flush=True)
        cmd = [sys.executable, "-m", f"harness.bench.{name}"] + (["--quick"] if args.quick else [])
        if args.repeat and name not in UNREPEATED:
            cmd += ["--repeat", str(args.repeat)]
        worst = max(worst, subprocess.run(cmd, check=False).returncode)
    return worst
