"""The emulator's TCP connections: a limit, a header timeout, and accept errors counted, not logged each.

The listening socket gives every accepted connection to a `Gate`, a small protocol that keeps the bytes
of the first request head and hands the connection to aiohttp once the head is complete (aiohttp has
no header timeout of its own). So (docs/platform.md "Connections"):

- at most `max_connections` are open at once. At the limit the oldest connection still without a
  complete head is closed to make room; when every open one has sent its head, the new one is refused
  with a 503. Refusals are counted in the ledger (`sockets.refused`): a bot that could not connect
  shows there.
- a connection without a complete request head `header_timeout_s` after it was accepted is closed
  (half-open requests, a slow trickle of header bytes). Later requests on a kept-alive connection are
  aiohttp's: `idle_timeout_s` is its keep-alive timeout.
- accept errors (say, file descriptors exhausted by something else) are logged once per kind and
  counted, instead of a traceback per failed accept.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
from collections import Counter
from collections.abc import Callable
from typing import Any

from harness.platform.clock import Clock
from harness.platform.config import Settings

log = logging.getLogger("harness.platform")

MAX_HEAD_BYTES = 32 * 1024  # a request head larger than this is refused (431)
FD_SPARE = 256  # file descriptors kept for everything else: logs, the ledger file, accept bursts
SWEEP_S = 0.05  # how often the header timeout is looked at, on the emulator's clock
ACCEPT_OUT_OF_RESOURCES = "socket.accept() out of system resource"  # asyncio's message
REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 26\r\n\r\nconnection limit reached\r\n"
)
HEAD_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


class Gate(asyncio.Protocol):
    """One accepted connection: holds its first request head, then passes everything to aiohttp."""

    __slots__ = ("counted", "head", "inner", "sockets", "transport")

    def __init__(self, sockets: Sockets) -> None:
        self.sockets = sockets
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.inner: asyncio.Protocol | None = None  # aiohttp's protocol, once the head is complete
        self.counted = False  # holds a place under the limit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sockets.opened(self)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)
            return
        seen = max(0, len(self.head) - 3)  # only new bytes can end the head: a trickle costs linear time
        self.head += data
        if self.head.find(b"\r\n\r\n", seen) >= 0 or self.head.find(b"\n\n", seen) >= 0:
            self.inner = self.sockets.headed(self)
            self.inner.connection_made(self.transport)  # type: ignore[arg-type]
            head, self.head = bytes(self.head), bytearray()
            self.inner.data_received(head)
        elif len(self.head) > MAX_HEAD_BYTES:
            self.sockets.head_too_large(self)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None  # None: close

    def connection_lost(self, exc: Exception | None) -> None:
        self.sockets.closed(self)
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


class Sockets:
    """The connection limit, the header timeout and the accept-error log of one listening server."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.wanted = settings.max_connections
        self.limit = settings.max_connections  # lowered at start() if the process may not open that many
        self.header_timeout_s = settings.header_timeout_s
        self.clock = clock
        self.open = 0
        self.peak = 0
        self.counts: Counter[str] = Counter()
        self.accept_errors: Counter[str] = Counter()  # by errno name
        self._waiting: dict[Gate, float] = {}  # no complete head yet -> deadline; oldest first
        self._handler: Callable[[], asyncio.Protocol] | None = None
        self._previous_handler: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- life cycle ----------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop, handler: Callable[[], asyncio.Protocol]) -> asyncio.Task[None]:
        """Serve connections with `handler` (aiohttp's protocol factory); returns the header-timeout sweep."""
        self._handler = handler
        self._loop = loop
        self.limit = _fd_bounded(self.wanted)
        if self.limit < self.wanted:
            log.warning(
                "max_connections %d lowered to %d: the file descriptor limit is %d (ulimit -n)",
                self.wanted,
                self.limit,
                resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            )
        self._previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._loop_exception)
        return loop.create_task(self._sweep())

    def close(self) -> None:
        """Close the connections still without a head and give the loop its exception handler back."""
        for gate in list(self._waiting):
            self._drop(gate)
        if self._loop is not None:
            self._loop.set_exception_handler(self._previous_handler)
            self._loop = None
        if sum(self.accept_errors.values()):
            log.warning("accept errors while serving: %s", dict(self.accept_errors))

    def protocol(self) -> Gate:
        """The protocol factory for loop.create_server."""
        return Gate(self)

    def summary(self) -> dict[str, int]:
        """The ledger's `sockets`."""
        keys = ("accepted", "refused", "evicted", "header_timeouts", "head_too_large")
        return {
            "limit": self.limit,
            "open": self.open,
            "peak": self.peak,
            **{k: self.counts[k] for k in keys},
            "accept_errors": sum(self.accept_errors.values()),
        }

    # --- the gates' events ---------------------------------------------------------------------------
    def opened(self, gate: Gate) -> None:
        if self.open >= self.limit and not self._evict_oldest():
            self._note("refused", f"connection limit {self.limit} reached, every connection in use: refused one")
            assert gate.transport is not None
            gate.transport.write(REFUSED)
            gate.transport.close()
            return
        self.counts["accepted"] += 1
        gate.counted = True
        self.open += 1
        self.peak = max(self.peak, self.open)
        self._waiting[gate] = self.clock.monotonic() + self.header_timeout_s

    def headed(self, gate: Gate) -> asyncio.Protocol:
        """The head is complete: aiohttp's protocol for it."""
        self._waiting.pop(gate, None)
        assert self._handler is not None
        return self._handler()

    def head_too_large(self, gate: Gate) -> None:
        self._note("head_too_large", f"a request head over {MAX_HEAD_BYTES} bytes: answered 431")
        self._waiting.pop(gate, None)
        assert gate.transport is not None
        gate.transport.write(HEAD_TOO_LARGE)
        gate.transport.close()

    def closed(self, gate: Gate) -> None:
        self._waiting.pop(gate, None)
        if gate.counted:
            gate.counted = False
            self.open -= 1

    # --- internals -----------------------------------------------------------------------------------
    def _evict_oldest(self) -> bool:
        """Close the oldest connection without a complete head, if any, to make room."""
        if not self._waiting:
            return False
        self._note("evicted", f"connection limit {self.limit} reached: closed the oldest connection without a head")
        self._drop(next(iter(self._waiting)))
        return True

    def _drop(self, gate: Gate) -> None:
        self._waiting.pop(gate, None)
        self.closed(gate)  # its place is free now; the socket closes in the loop's next turn
        if gate.transport is not None:
            gate.transport.abort()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            now = self.clock.monotonic()
            while self._waiting:
                gate, deadline = next(iter(self._waiting.items()))
                if deadline > now:
                    break
                self._note("header_timeouts", f"no complete request head within {self.header_timeout_s:g} s: closed")
                self._drop(gate)

    def _note(self, kind: str, text: str) -> None:
        """Count `kind`; log the first 20 and every 1000th (an attack must not fill the log)."""
        self.counts[kind] += 1
        seen = self.counts[kind]
        if seen <= 20 or seen % 1000 == 0:
            log.warning("%s (#%d, counted in the ledger's sockets.%s)", text, seen, kind)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        accepting = context.get("message") == ACCEPT_OUT_OF_RESOURCES or "_accept_connection" in repr(
            context.get("handle", "")
        )
        if not accepting or not isinstance(exc, OSError):
            if self._previous_handler is not None:
                self._previous_handler(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        kind = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        self.accept_errors[kind] += 1
        if self.accept_errors[kind] == 1:
            log.error(
                "accepting a connection failed: %s (logged once; counted in the ledger's sockets.accept_errors)", exc
            )


def _fd_bounded(wanted: int) -> int:
    """`wanted` connections, or fewer if the process may not open that many files. Raises the soft
    file-descriptor limit towards the hard one first, as any process may."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FD_SPARE
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FD_SPARE))
