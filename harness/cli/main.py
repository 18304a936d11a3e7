"""The `harness` command line: a thin dispatcher over harness.cli.<name>."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

from harness import __version__
from harness.cli import COMMANDS
from harness.core.contract import ExitCode


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Stress-test and observability harness for enterprise AI chat bots.",
        epilog="Run `harness COMMAND --help` for a command's options. Docs: docs/cli.md",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    known, rest = top.parse_known_args(argv)
    if known.command is None:
        top.print_help()
        return ExitCode.USAGE
    module = importlib.import_module(f"harness.cli.{known.command}")
    parser = argparse.ArgumentParser(prog=f"harness {known.command}", description=module.HELP)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    logging.basicConfig(
        level=logging.DEBUG if known.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.ABORTED
    except Exception as exc:  # a harness bug: one line (the traceback with -v), never a usage-error code
        if known.verbose:
            traceback.print_exc()
        print(
            f"harness {known.command}: internal error: {exc!r}; rerun with -v for the traceback "
            f"(exit code {int(ExitCode.HARNESS_ERROR)})",
            file=sys.stderr,
        )
        return ExitCode.HARNESS_ERROR
