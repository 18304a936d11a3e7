"""`harness bench`: run the benchmarks in bench/ (each prints ratios against an in-run baseline)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HELP = "Run the performance benchmarks and print ratios against in-run baselines"
BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available())})")
    parser.add_argument("--quick", action="store_true", help="shorter runs, for a smoke check")


def run(args: argparse.Namespace) -> int:
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    worst = 0
    for name in names:
        print(f"== bench {name}", flush=True)
        cmd = [sys.executable, str(BENCH_DIR / f"bench_{name}.py")] + (["--quick"] if args.quick else [])
        worst = max(worst, subprocess.run(cmd, cwd=BENCH_DIR.parent, check=False).returncode)
    return worst
