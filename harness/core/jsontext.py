"""JSON from outside the process (frames, request bodies): one strict parser for the emulator and the bot,
and the one writer of the JSON they send.

Inputs the standard library would let through as something other than a ValueError, or not refuse at
all, become the ValueError every malformed document gives, so callers keep one error path:
- nesting deeper than the interpreter's recursion limit (a 60 KB `[[[...]]]` raised RecursionError and
  crashed request handling);
- the non-standard constants NaN, Infinity and -Infinity (not JSON; they later made our own answers
  invalid JSON and broke arithmetic), and numbers that overflow to infinity (1e999);
- lone UTF-16 surrogate escapes (not Unicode text; they cannot be written back out as UTF-8).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson


class JsonTextError(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise JsonTextError(f"{name} is not a JSON number")


def parse(data: str | bytes | bytearray, *, constants: bool = False) -> Any:
    """The document in `data`; JsonTextError (a ValueError) for anything that is not strict JSON.

    orjson parses it (several times faster than the standard library: this is on every frame and request
    body of the emulator and the bot); for a document orjson refuses, the standard parser's error is
    given, as it names the problem the way callers and users know it. Integers beyond 64 bits come back
    as floats. `constants=True` uses the standard parser and lets NaN / Infinity through as floats, for a
    caller whose schema refuses them with a message naming the field (the emulator's /admin/faults)."""
    if not constants:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            strict_error = exc
    try:
        value = json.loads(data) if constants else json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise JsonTextError("JSON nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise JsonTextError(f"not UTF-8 text: {exc.reason}") from None
    if constants:
        return value
    # readable for Python, not strict JSON: a lone surrogate escape, a number out of range
    raise JsonTextError(f"not strict JSON: {strict_error}")


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """`value` as compact JSON text (orjson; the standard library for what orjson cannot write: integers
    beyond 64 bits). `default` turns other objects into something JSON can hold, as in json.dumps."""
    try:
        return orjson.dumps(value, default=default).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), default=default)
