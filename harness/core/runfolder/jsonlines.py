"""JSON-lines files of a run folder: one JSON object per line, written by the run, read by the analysis.

The writer flushes per line, so a crash loses at most the line being written; the reader streams one
line at a time (parsed with orjson, three times faster than the standard library) so that a week-long
run never sits in memory, and counts a torn or damaged line instead of failing on it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson


class JsonLinesWriter:
    """An append-only JSON-lines file, flushed per line; safe to share between threads."""

    def __init__(self, path: Path):
        self.path = path
        self._file = path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.write(json.dumps(record, default=str) + "\n")

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
