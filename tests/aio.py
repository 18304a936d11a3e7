"""Helpers for tests of asyncio code: run a coroutine test with an overall deadline, poll a condition."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

TEST_DEADLINE_S = 120.0
POLL_DEADLINE_S = 30.0  # generous: the machine is shared


def async_test(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """A coroutine test function run in its own event loop, failed if it takes over TEST_DEADLINE_S."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), TEST_DEADLINE_S))

    return wrapper


async def wait_for(
    predicate: Callable[[], bool], what: str = "the condition", timeout: float = POLL_DEADLINE_S
) -> None:
    """Poll a condition with a deadline (for state that has no event to wait on)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)
