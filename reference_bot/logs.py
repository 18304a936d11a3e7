"""Structured JSON-lines logs: one object per line with ts, level, event and the event's fields.

The event names are harness.core.contract.BotEvent, a contract with the diagnosis (docs/run-folder.md,
"The bot's log"). Callers pass only what is safe to show; secrets are never handed to the logger.
"""

from __future__ import annotations

import logging
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
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
        }
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
        main = (SyncedFileHandler if synced else logging.FileHandler)(log_file, encoding="utf-8")
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
