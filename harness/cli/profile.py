"""`harness profile`: record py-spy flame graphs, show hot functions, diff two profiles.

harness profile record --pid PID --duration 30 --out DIR        attach to a running process
harness profile record --out DIR -- python -m reference_bot ...  launch a program under py-spy
harness profile top DIR/bot.txt                                  hot-function table
harness profile diff BEFORE.txt AFTER.txt                        what got hotter
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.core.contract import ExitCode

HELP = "Record py-spy flame graphs of a running process"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    rec = sub.add_parser("record", help="attach to --pid, or launch the command after --")
    rec.add_argument("--pid", type=int, help="process to attach to (needs root or CAP_SYS_PTRACE)")
    rec.add_argument("--out", type=Path, required=True, help="folder for <component>.svg/.speedscope.json/.txt")
    rec.add_argument("--duration", type=float, default=30.0, help="seconds to record (attach; default 30)")
    rec.add_argument("--rate", type=int, default=100, help="samples per second (default 100)")
    rec.add_argument("--component", default="bot", help="file name stem (default bot)")
    rec.add_argument("--subprocesses", action="store_true", help="profile child processes too")
    rec.add_argument("--idle", action="store_true", help="sample idle threads too: time blocked in calls shows")
    rec.add_argument("command", nargs=argparse.REMAINDER, help="-- PROGRAM ARGS to launch under py-spy")
    top = sub.add_parser("top", help="hot functions of a raw stacks file")
    top.add_argument("raw", type=Path)
    top.add_argument("--limit", type=int, default=15)
    diff = sub.add_parser("diff", help="what got hotter from BEFORE to AFTER (raw stacks files)")
    diff.add_argument("before", type=Path)
    diff.add_argument("after", type=Path)
    diff.add_argument("--limit", type=int, default=15)


def _print_hot(rows: list[dict]) -> None:
    print(f"{'self':>7} {'incl.':>7}  function")
    for r in rows:
        print(f"{r['self_share']:7.1%} {r['inclusive_share']:7.1%}  {r['function']}")


def run(args: argparse.Namespace) -> int:
    from harness.profiling import pyspy
    from harness.profiling.stacks import BadStacks, Stacks, diff, hot_functions

    try:
        if args.action == "top":
            _print_hot(hot_functions(Stacks.load(args.raw), args.limit))
        elif args.action == "diff":
            rows = diff(Stacks.load(args.before), Stacks.load(args.after), args.limit)
            print(f"{'self':>15} {'inclusive':>15}  function (hottest growth first)")
            for r in rows:
                print(
                    f"{r['self_before']:6.1%}->{r['self_after']:6.1%} {r['inclusive_before']:6.1%}->"
                    f"{r['inclusive_after']:6.1%}  {r['function']}"
                )
        else:
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            if bool(command) == (args.pid is not None):
                print("harness profile record: give either --pid PID or -- COMMAND", file=sys.stderr)
                return ExitCode.USAGE
            if command:
                recording = pyspy.launch(
                    command,
                    args.out,
                    args.rate,
                    component=args.component,
                    subprocesses=args.subprocesses,
                    idle=args.idle,
                )
            else:
                recording = pyspy.record(
                    args.pid,
                    args.out,
                    args.duration,
                    args.rate,
                    component=args.component,
                    subprocesses=args.subprocesses,
                    idle=args.idle,
                )
            print(
                f"py-spy {recording.mode} ({'pid ' + str(args.pid) if args.pid else ' '.join(command)}); "
                "Ctrl-C to stop early",
                file=sys.stderr,
            )
            try:
                result = recording.wait()
            except KeyboardInterrupt:
                result = recording.stop()
            print(f"{result.samples} samples, {result.mode}; wrote " + ", ".join(str(p) for p in result.files.values()))
            _print_hot(result.hot[:10])
    except (OSError, BadStacks, pyspy.ProfilingError) as exc:
        print(f"harness profile: {exc}", file=sys.stderr)
        return ExitCode.USAGE if isinstance(exc, (OSError, BadStacks)) else ExitCode.HARNESS_ERROR
    return ExitCode.OK
