"""JSON from outside the process (frames, request bodies): one strict parser for the emulator and the bot.

Two inputs the standard library would let through as something other than a ValueError, or not refuse
at all, become the ValueError every malformed document gives, so callers keep one error path:
- nesting deeper than the interpreter's recursion limit (a 60 KB `[[[...]]]` raised RecursionError and
  crashed request handling);
- the non-standard constants NaN, Infinity and -Infinity (not JSON; they later made our own answers
  invalid JSON and broke arithmetic).
"""

from __future__ import annotations

import json
from typing import Any


class JsonTextError(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise JsonTextError(f"{name} is not a JSON number")


def parse(data: str | bytes | bytearray, *, constants: bool = False) -> Any:
    """The document in `data`; JsonTextError (a ValueError) for anything that is not strict JSON.

    `constants=True` lets NaN / Infinity through as floats, for a caller whose schema refuses them
    with a message naming the field (the emulator's /admin/faults)."""
    try:
        return json.loads(data) if constants else json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise JsonTextError("JSON nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise JsonTextError(f"not UTF-8 text: {exc.reason}") from None
