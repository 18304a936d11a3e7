"""The bot log's event names: one list in the contract, written by the reference bot, documented."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import os
import re
import threading
from logging.handlers import QueueHandler
from pathlib import Path

import pytest

from harness.core.contract import BotEvent
from reference_bot.config import ConfigError
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


@pytest.mark.parametrize("separate_path", [False, True])
def test_fsync_writes_every_line_to_disk_before_the_call_returns(tmp_path, root_logging, monkeypatch, separate_path):
    """logging.fsync: each event is on disk (fsynced, on the caller's thread: the event loop's in the bot)
    before event() returns; with logging.fsync_path the synced copy goes there, the log file as usual."""
    log_file, synced_file = tmp_path / "bot.log", tmp_path / "slow" / "synced.log"
    synced_file.parent.mkdir()
    target = synced_file if separate_path else log_file
    calls: list[tuple[str, int]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # the real call, noting where it ran and how much of the file it covered
        calls.append((threading.current_thread().name, target.stat().st_size))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    output = setup_logging(str(log_file), fsync=True, fsync_path=str(synced_file) if separate_path else "")
    sizes = []
    for seq in range(1, 4):
        event(BotEvent.REPLY_SENT, msgId=f"m{seq}", seq=seq)
        sizes.append(target.stat().st_size)
    output.close()
    assert calls == [(threading.current_thread().name, size) for size in sizes]  # one per line, the line in it
    assert [json.loads(line)["seq"] for line in target.read_text().splitlines()] == [1, 2, 3]
    assert [json.loads(line)["seq"] for line in log_file.read_text().splitlines()] == [1, 2, 3]


def test_fsync_without_a_file_is_a_configuration_error(root_logging):
    with pytest.raises(ConfigError, match=r"logging\.fsync: needs a log file"):
        setup_logging(None, fsync=True)


def test_on_the_event_loop_a_turn_s_lines_reach_the_file_in_one_write_in_order(tmp_path, root_logging):
    path = tmp_path / "bot.log"
    output = setup_logging(str(path))
    handler = logging.getLogger().handlers[0]
    writes: list[str] = []
    real_write = handler.stream.write

    def counted(text: str) -> int:
        writes.append(text)
        return real_write(text)

    handler.stream.write = counted

    async def turn() -> str:
        for seq in range(1, 4):
            event(BotEvent.REPLY_SENT, msgId=f"m{seq}", seq=seq)
        before = path.read_text()  # nothing written while the turn runs
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return before

    assert asyncio.run(turn()) == ""
    assert len(writes) == 1 and [json.loads(line)["seq"] for line in path.read_text().splitlines()] == [1, 2, 3]
    event(BotEvent.REPLY_SENT, msgId="m4", seq=4)  # no loop running: written at once
    assert [json.loads(line)["seq"] for line in path.read_text().splitlines()] == [1, 2, 3, 4]

    async def last_turn() -> None:  # the loop ends before the end of its turn: close() writes the line
        event(BotEvent.REPLY_SENT, msgId="m5", seq=5)

    asyncio.run(last_turn())
    output.close()
    assert [json.loads(line)["seq"] for line in path.read_text().splitlines()] == [1, 2, 3, 4, 5]
