"""Fewer wake-ups of a load generator's event loop: libev's collect intervals on gevent's loop.

Every send (a timer) and every reply (a readable socket) wakes the process: an `epoll_wait` return, a
context switch and a hub iteration each, which cost a Locust worker on a shared 2-core VM more than all
of its Python per message. libev can batch them (ev_set_io_collect_interval and
ev_set_timeout_collect_interval, "Tuning the loop" in libev's manual): the loop then polls at most once
per interval and handles whatever came together. The price is latency: a send may start up to one
interval after its intended time and a reply may be read up to one interval after it arrived. Both are
measured, never hidden: latency runs from the intended send time, and a send later than
`load.late_start_ms` is a late start.

gevent exposes its libev loop's address (`loop.ptr`) and the libev functions are exported by its
compiled core; with another loop implementation (GEVENT_LOOP=libuv, or gevent's cffi backend) the
intervals are not set and `batch_wakeups()` says so.
"""

from __future__ import annotations

import ctypes
import functools

import gevent


@functools.cache
def _libev() -> ctypes.CDLL | None:
    try:
        from gevent.libev import corecext
    except ImportError:  # pragma: no cover - gevent built without the libev C core
        return None
    lib = ctypes.CDLL(corecext.__file__)
    for name in ("ev_set_io_collect_interval", "ev_set_timeout_collect_interval"):
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_double]
        getattr(lib, name).restype = None
    return lib


def batch_wakeups(interval_s: float) -> bool:
    """Let this thread's gevent loop poll for I/O and fire timers at most once per `interval_s` (0: every
    event wakes it, libev's default). False when the loop is not gevent's libev C core."""
    loop = gevent.get_hub().loop
    if type(loop).__module__ != "gevent.libev.corecext":
        return False
    lib = _libev()
    if lib is None:  # pragma: no cover
        return False
    lib.ev_set_io_collect_interval(loop.ptr, interval_s)
    lib.ev_set_timeout_collect_interval(loop.ptr, interval_s)
    return True
