"""The asyncio event loop of the long-running servers (emulator, reference bot): uvloop when it is
installed (a dependency on Linux and macOS), else the standard one; HARNESS_EVENT_LOOP=asyncio forces
the standard loop (to compare, or to rule uvloop out). uvloop moves the socket writes, reads and
callbacks of every frame into C: see docs/benchmarks/platform.md for what it saves."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
ENV = "HARNESS_EVENT_LOOP"


def name() -> str:
    """The loop run() uses: "uvloop" or "asyncio"."""
    if os.environ.get(ENV, "").strip().lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(main) on the loop name() says."""
    if name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
