"""Helpers for tests of asyncio code: run a coroutine test with an overall deadline, poll a condition,
serve an aiohttp app on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

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


@contextlib.asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """`app` served on 127.0.0.1 at an ephemeral port for the block: its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
