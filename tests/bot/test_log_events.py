"""The bot log's event names: one list in the contract, written by the reference bot, documented."""

from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path

import pytest

from harness.core.contract import BotEvent
from reference_bot.logs import LOGGER_NAME, JsonLinesFormatter

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_every_event_is_documented_in_the_run_folder_page():
    doc = (ROOT / "docs" / "run-folder.md").read_text()
    section = doc[doc.index("## The bot's log") :]
    documented = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            documented.update(re.findall(r"`([a-z_]+)`", first_cell))
    assert documented == set(BotEvent.names())


def test_the_reference_bot_names_its_events_only_from_the_contract():
    calls = 0
    for path in sorted((ROOT / "reference_bot").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "event":
                name = node.args[0]
                assert isinstance(name, ast.Attribute) and isinstance(name.value, ast.Name), path
                assert name.value.id == "BotEvent" and hasattr(BotEvent, name.attr), f"{path}:{node.lineno}"
                calls += 1
    assert calls > 20


def test_a_logged_event_is_a_json_line_with_the_plain_name():
    formatter = JsonLinesFormatter()
    record = logging.LogRecord(LOGGER_NAME, logging.INFO, __file__, 1, BotEvent.REPLY_SENT, None, None)
    record.fields = {"msgId": "m1", "seq": 1}
    line = json.loads(formatter.format(record))
    assert (line["event"], line["level"], line["msgId"], line["seq"]) == ("reply_sent", "info", "m1", 1)
    plain = json.loads(formatter.format(logging.LogRecord("aiohttp", logging.WARNING, __file__, 1, "hi", None, None)))
    assert (plain["event"], plain["message"]) == (BotEvent.LOG, "hi")
