"""A real Redis for the reference bot's answer cache: started per run when the scenario turns the cache
on, on 127.0.0.1 and an ephemeral port, nothing persisted, memory capped; stopped at the end like
Prometheus (harness.core.procs through Component)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from harness.core.contract import DEFAULT_HOST
from harness.core.readiness import NotReady
from harness.run.processes import Component

INSTALL_HINT = "install Redis (Debian/Ubuntu: apt-get install redis-server)"
MAXMEMORY = "256mb"  # a run's answers fit many times over; the cap keeps a runaway from eating the machine


def component(binary: str, folder: Path, port: int, log_path: Path) -> Component:
    folder.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "--bind",
        DEFAULT_HOST,
        "--port",
        str(port),
        "--save",
        "",  # no snapshots, no append-only file: the cache lives and dies with the run
        "--appendonly",
        "no",
        "--dir",
        str(folder),
        "--maxmemory",
        MAXMEMORY,
        "--maxmemory-policy",
        "allkeys-lru",
        "--logfile",
        "",  # stdout, which Component sends to log_path
    ]
    return Component("redis", argv, log_path, stop_grace_s=10)


def url(port: int) -> str:
    return f"redis://{DEFAULT_HOST}:{port}/0"


def pings(port: int, timeout: float = 1.0) -> bool:
    """True when a Redis on loopback `port` answers PING (inline command, no client library needed)."""
    try:
        with socket.create_connection((DEFAULT_HOST, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_ready(comp: Component, port: int, timeout: float = 30.0) -> None:
    """Until the Redis of `comp` answers PING; NotReady when it exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if comp.exit_code() is not None:
            raise NotReady(f"redis-server exited with code {comp.exit_code()} before it answered (see {comp.log_path})")
        if pings(port):
            return
        time.sleep(0.05)
    raise NotReady(f"redis-server did not answer PING on port {port} within {timeout:.0f} s (see {comp.log_path})")
