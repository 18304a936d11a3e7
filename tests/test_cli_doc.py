"""docs/cli.md must name every subcommand and every long option the parsers accept."""

import argparse
import importlib
import re
from pathlib import Path

import pytest

from harness.cli import COMMANDS

pytestmark = pytest.mark.unit

CLI_DOC = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _long_options(sub)
        found |= {o for o in action.option_strings if o.startswith("--") and o != "--help"}
    return found


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_and_option_is_documented(name):
    parser = argparse.ArgumentParser()
    importlib.import_module(f"harness.cli.{name}").add_arguments(parser)
    assert f"## harness {name}" in CLI_DOC
    missing = sorted(o for o in _long_options(parser) if not re.search(rf"(?<![\w-]){o}(?![\w-])", CLI_DOC))
    assert not missing, f"docs/cli.md does not mention {missing} of `harness {name}`"
