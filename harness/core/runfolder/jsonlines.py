"""JSON-lines files of a run folder: one JSON object per line, written by the run, read by the analysis.

The writer writes each line with one call, so a crash loses at most the line being written; the
reader streams one line at a time (parsed with orjson, three times faster than the standard library)
so that a week-long run never sits in memory, and counts a torn or damaged line instead of failing on it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from harness.core.runfolder.diskspace import is_disk_full


class JsonLinesWriter:
    """An append-only JSON-lines file, one write per line; safe to share between threads.

    A line that meets a full disk is counted (`unwritten`, the error in `error`) instead of raised: the
    run decides what a full disk means. A line the full disk tore is ended before the next one is
    written, so the reader counts one bad line and reads every later one."""

    def __init__(self, path: Path):
        self.path = path
        self._file = path.open("ab", buffering=0)
        self._lock = threading.Lock()
        self._torn = False
        self.unwritten = 0
        self.error: OSError | None = None

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, default=str) + "\n").encode()
        with self._lock:
            if self._file.closed:
                return
            data = memoryview(b"\n" + line if self._torn else line)
            written = 0
            try:
                written = self._file.write(data)
                if written < len(data):  # a short write: the next one says why (a full disk)
                    written += self._file.write(data[written:])
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                self.error = exc
            if written < len(data):
                self.unwritten += 1
            if written:
                self._torn = written < len(data)

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class JsonLinesReader:
    """The JSON objects of a JSON-lines file, streamed. Once iterated: `lines` (non-blank lines read),
    `bad` (lines that are not a JSON object: a torn last line, damage) and `first_bad` (its number)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = self.bad = self.first_bad = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                self.lines += 1
                try:
                    item = orjson.loads(line)
                except orjson.JSONDecodeError:
                    item = None
                if isinstance(item, dict):
                    yield item
                else:
                    self.bad += 1
                    self.first_bad = self.first_bad or number
