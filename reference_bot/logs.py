"""Structured JSON-lines logs: one object per line with ts, level, event and the event's fields.

The event names are harness.core.contract.BotEvent, a contract with the diagnosis (docs/run-folder.md,
"The bot's log"). Callers pass only what is safe to show; secrets are never handed to the logger.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import queue
import sys
from datetime import datetime, timezone
from logging.handlers import QueueHandler, QueueListener
from typing import Any

from harness.core import jsontext
from harness.core.contract import BotEvent
from reference_bot.config import ConfigError

LOGGER_NAME = "reference_bot"
log = logging.getLogger(LOGGER_NAME)


class JsonLinesFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second = -1  # the whole second `_prefix` spells ("2026-12-01T06:13:28")
        self._prefix = ""

    def timestamp(self, created: float) -> str:
        """`created` as ISO 8601 UTC with milliseconds, as datetime.isoformat(timespec="milliseconds")
        writes it; the date and time of day are spelled once per second, not once per line."""
        fraction, whole = math.modf(created)
        second, us = int(whole), round(fraction * 1e6)  # datetime's rounding: to the microsecond first
        if us >= 1_000_000:
            second, us = second + 1, us - 1_000_000
        ms = us // 1000
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._prefix}.{ms:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": self.timestamp(record.created), "level": record.levelname.lower()}
        fields = getattr(record, "fields", None)
        if fields is None:  # a plain log call, e.g. from a library
            line["event"] = BotEvent.LOG
            line["logger"] = record.name
            line["message"] = record.getMessage()
        else:
            line["event"] = record.msg
            line.update(fields)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return jsontext.dumps(line, default=str)


def event(name: str, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    if log.isEnabledFor(level):
        log.log(level, name, exc_info=exc_info, extra={"fields": fields})


class _InProcessQueueHandler(QueueHandler):
    """Puts the record itself on the queue. The stock prepare() formats it in the caller (on the event
    loop, the work the queue is there to move away) and flattens it into plain text, which would lose
    the event's fields; the listener is in this process, so the record can travel as it is."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class TurnFileHandler(logging.FileHandler):
    """The log file, written once per turn of the event loop: a line logged on the loop's thread is kept
    and the turn's lines reach the kernel together, in one write, when the loop has run the turn's other
    callbacks (two lines per message cost two system calls per message when each was flushed alone).
    A line logged on any other thread, or with no loop running, is written and flushed at once, and
    close() writes what is kept. Every line is written, whole and in order; a process killed with
    SIGKILL loses the lines of the turn it was in (use `logging.fsync` for lines on disk per call)."""

    def __init__(self, filename: str, encoding: str | None = None) -> None:
        super().__init__(filename, encoding=encoding)
        self._kept: list[str] = []
        self._turn: asyncio.AbstractEventLoop | None = None  # the loop a write is scheduled on

    def emit(self, record: logging.LogRecord) -> None:  # called with the handler's lock held
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_kept()
            super().emit(record)
            return
        try:
            self._kept.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)
            return
        if self._turn is not loop:
            self._turn = loop
            loop.call_soon(self._end_of_turn)

    def _end_of_turn(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._turn = None
            self._write_kept()

    def _write_kept(self) -> None:
        if not self._kept:
            return
        lines, self._kept = "".join(self._kept), []
        if self.stream is None:
            self.stream = self._open()
        self.stream.write(lines)
        self.flush()

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_kept()
        super().close()


class SyncedFileHandler(logging.FileHandler):
    """Appends each line and waits for the disk to have it (fsync) before returning: every log call
    costs a disk write and its flush, on whatever thread logged (config `logging.fsync`)."""

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)  # writes and flushes the line to the kernel
        if self.stream is not None:
            self.fsync_line()

    def fsync_line(self) -> None:  # its own frame, so that a profile names where the time went
        os.fsync(self.stream.fileno())


class LogOutput:
    """Where the log goes; close() flushes it (with a queue: waits for the listener to write the rest)."""

    def __init__(self, handlers: list[logging.Handler], listener: QueueListener | None) -> None:
        self.handlers = handlers
        self.listener = listener

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        for handler in self.handlers:
            handler.close()


def _handlers(log_file: str | None, fsync: bool, fsync_path: str) -> list[logging.Handler]:
    if fsync and not (log_file or fsync_path):
        raise ConfigError("logging.fsync: needs a log file (--log-file) or logging.fsync_path")
    main: logging.Handler
    if log_file:
        synced = fsync and not fsync_path
        main = (SyncedFileHandler if synced else TurnFileHandler)(log_file, encoding="utf-8")
    else:
        main = logging.StreamHandler(sys.stderr)
    handlers = [main]
    if fsync and fsync_path:
        handlers.append(SyncedFileHandler(fsync_path, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(JsonLinesFormatter())
    return handlers


def setup_logging(
    log_file: str | None, level: int = logging.INFO, queued: bool = False, fsync: bool = False, fsync_path: str = ""
) -> LogOutput:
    """Send the bot's (and its libraries') logs as JSON lines to log_file, or to stderr. `queued`: the
    caller only enqueues each record; a listener thread formats and writes it (config `logging.queue`).
    `fsync`: every line is fsynced before the call returns, in log_file or else in `fsync_path`
    (config `logging.fsync`, `logging.fsync_path`)."""
    handlers = _handlers(log_file, fsync, fsync_path)
    # Every reply writes log lines: skip what the JSON lines never show (the Logging HOWTO's "Optimization":
    # the caller's file and line walk the stack on every record; thread and process names).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    listener = None
    if queued:
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        listener = QueueListener(records, *handlers)
        listener.start()
        root.addHandler(_InProcessQueueHandler(records))
    else:
        for handler in handlers:
            root.addHandler(handler)
    root.setLevel(level)
    return LogOutput(handlers, listener)
