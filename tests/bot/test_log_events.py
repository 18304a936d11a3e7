"""The bot log's event names: one list in the contract, written by the reference bot, documented."""

from __future__ import annotations

import ast
import json
import logging
import re
import threading
from logging.handlers import QueueHandler
from pathlib import Path

import pytest

from harness.core.contract import BotEvent
from reference_bot.logs import LOGGER_NAME, JsonLinesFormatter, event, setup_logging

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


@pytest.fixture
def root_logging():
    """setup_logging() takes over the root logger: give it back as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("queued", [False, True])
def test_events_reach_the_file_with_their_fields_through_a_queue_or_directly(tmp_path, root_logging, queued):
    path = tmp_path / "bot.log"
    output = setup_logging(str(path), queued=queued)
    root = logging.getLogger()
    # with the queue the calling thread only enqueues: the only handler it meets is the queue's
    assert len(root.handlers) == 1 and isinstance(root.handlers[0], QueueHandler) is queued
    formatted_on = []
    real_format = JsonLinesFormatter.format

    def spy(self, record):
        formatted_on.append(threading.current_thread().name)
        return real_format(self, record)

    JsonLinesFormatter.format = spy
    try:
        for seq in range(1, 4):
            event(BotEvent.REPLY_SENT, msgId=f"m{seq}", seq=seq)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            event(BotEvent.HANDLER_CRASHED, 40, exc_info=True, msgId="m4")
        output.close()  # with the queue: waits until the listener wrote everything
    finally:
        JsonLinesFormatter.format = real_format
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line.get("seq") for line in lines] == [1, 2, 3, None]
    assert lines[-1]["event"] == "handler_crashed" and "RuntimeError: boom" in lines[-1]["error"]
    main = threading.current_thread().name
    assert (main not in formatted_on) if queued else (set(formatted_on) == {main})
