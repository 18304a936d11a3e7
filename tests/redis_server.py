"""A real redis-server on a free loopback port for a test, started and stopped the way a run does it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from harness.core import procs
from harness.run import redis


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Yields the server's URL; the server is stopped on the way out."""
    binary = procs.find_binary("redis-server")
    assert binary is not None, "guard the test with tests.tools.needs_tool('redis-server')"
    port = procs.free_port()
    comp = redis.component(binary, folder / "redis", port, folder / "redis.log")
    comp.start()
    try:
        redis.wait_ready(comp, port)
        yield redis.url(port)
    finally:
        comp.stop()
