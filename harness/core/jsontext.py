"""JSON from outside the process (frames, request bodies): one strict parser for the emulator and the bot,
and the one writer of the JSON they send.

Inputs the standard library would let through as something other than a ValueError, or not refuse at
all, become the ValueError every malformed document gives, so callers keep one error path:
- nesting deeper than the interpreter's recursion limit (a 60 KB `[[[...]]]` raised RecursionError and
  crashed request handling);
- the non-standard constants NaN, Infinity and -Infinity (not JSON; they later made our own answers
  invalid JSON and broke arithmetic).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

# orjson reads integers beyond 64 bits as floats; a document with a run of 19 digits goes to the standard
# parser, which keeps them exact. Such runs are rare, and the scan is on every frame and body of the
# emulator and the bot: every ASCII digit becomes "0" and every other byte a space (one C pass), then one
# substring search. A regular expression took 10 - 25 us per 1 KB frame, several times orjson's parse.
_DIGITS_ONLY = bytes(ord("0") if ord("0") <= i <= ord("9") else ord(" ") for i in range(256))
_LONG_RUN = b"0" * 19


def _has_long_digits(data: str | bytes | bytearray) -> bool:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return _LONG_RUN in raw.translate(_DIGITS_ONLY)


class JsonTextError(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise JsonTextError(f"{name} is not a JSON number")


def parse(data: str | bytes | bytearray, *, constants: bool = False) -> Any:
    """The document in `data`; JsonTextError (a ValueError) for anything that is not strict JSON.

    orjson parses it when it can (several times faster: this is on every frame and request body of the
    emulator and the bot); what orjson refuses or would read differently (integers beyond 64 bits) goes
    to the standard parser, whose result and errors are the reference. `constants=True` lets NaN /
    Infinity through as floats, for a caller whose schema refuses them with a message naming the field
    (the emulator's /admin/faults)."""
    if not constants and not _has_long_digits(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the standard parser names the problem
    try:
        return json.loads(data) if constants else json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise JsonTextError("JSON nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise JsonTextError(f"not UTF-8 text: {exc.reason}") from None


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """`value` as compact JSON text (orjson; the standard library for what orjson cannot write: integers
    beyond 64 bits, lone surrogates; non-finite floats become null). `default` turns other objects into
    something JSON can hold, as in json.dumps."""
    try:
        return orjson.dumps(value, default=default).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), default=default)


def dumpb(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """dumps(value) as UTF-8 bytes (what a socket or a response body takes, without a str in between)."""
    try:
        return orjson.dumps(value, default=default)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), default=default).encode()
