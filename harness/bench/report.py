"""Report build time and memory on a synthetic real-time week, against plain JSON-lines parsing.

The run folder is a true 7-day soak: one 10 s window (with two HdrHistograms) per 10 s and one host
sample per second. Baseline: parsing every line of the same files with the same JSON parser (orjson),
nothing else - the least any reader must do. Each side runs in its own process so that its peak RSS is
its own. A 1-day build is measured too: equal peak memory for 1 and 7 days shows that memory does
not grow with run length.

    python -m harness.bench.report [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from harness.analysis.report.builder import analyse, write_report
from harness.bench.synthetic import SyntheticRun, write_run

PARSERS = {"parse": orjson.loads, "parse-stdlib": json.loads}
JSONL = ("windows.jsonl", "samples.jsonl", "ledger.jsonl", "alerts.jsonl")


def child(mode: str, run_dir: Path) -> None:
    start = time.perf_counter()
    if mode in PARSERS:
        lines = 0
        parse = PARSERS[mode]
        for name in JSONL:
            with (run_dir / name).open("rb") as handle:
                for line in handle:
                    parse(line)
                    lines += 1
        extra = {"lines": lines}
    else:
        report = analyse(run_dir)
        extra = {"verdict": report.verdict, "analyse_s": time.perf_counter() - start}
        write_report(report)
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, **extra}))


def measure(mode: str, run_dir: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "harness.bench.report", "--child", mode, str(run_dir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 simulated days, a window a minute and a sample every 30 s"
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "RUN_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    days, window_s, sample_every = (2, 60.0, 30.0) if args.quick else (7, 10.0, 1.0)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        results = {}
        for label, n_days in (("short", 1), ("long", days)):
            run = write_run(
                Path(tmp) / label,
                SyntheticRun(
                    days=n_days,
                    real_time=True,
                    window_wall_s=window_s,
                    sample_every_wall_s=sample_every,
                    ledger_every_wall_s=window_s,
                ),
            )
            size_mb = sum(f.stat().st_size for f in run.iterdir()) / 2**20
            windows = sum(1 for _ in (run / "windows.jsonl").open("rb"))
            results[label] = {
                "parse": measure("parse", run),
                "build": measure("build", run),
                "stdlib": measure("parse-stdlib", run) if label == "long" else None,
                "size_mb": size_mb,
                "windows": windows,
            }
    long, short = results["long"], results["short"]
    print(
        f"run folder: {days} simulated days in real time, {long['windows']:,} windows, "
        f"{long['parse']['lines']:,} JSON lines, {long['size_mb']:.0f} MB"
    )
    parse, build = long["parse"], long["build"]
    print(f"baseline  orjson.loads of every line: {parse['seconds']:6.1f} s, peak RSS {parse['rss_mb']:5.0f} MB")
    print(f"          json.loads (standard library) of every line: {long['stdlib']['seconds']:6.1f} s")
    print(
        f"report    build (json, md, junit, html): {build['seconds']:6.1f} s (reading and analysis "
        f"{build['analyse_s']:.1f} s, charts and files {build['seconds'] - build['analyse_s']:.1f} s), "
        f"peak RSS {build['rss_mb']:5.0f} MB, verdict {build['verdict']}"
    )
    print(
        f"ratio     build time / orjson baseline: {build['seconds'] / parse['seconds']:.2f}x, "
        f"/ standard-library baseline: {build['seconds'] / long['stdlib']['seconds']:.2f}x"
    )
    print(
        f"memory    peak RSS {days}-day build / 1-day build: {build['rss_mb'] / short['build']['rss_mb']:.2f}x "
        f"({short['build']['rss_mb']:.0f} MB for 1 day)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
