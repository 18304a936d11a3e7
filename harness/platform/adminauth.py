"""Who may use the emulator's /admin/* routes (docs/platform.md "Admin API").

On a loopback address only this machine reaches them, and no token is needed. Anywhere else they
change what the test measures (faults, disconnects), so the emulator refuses to start without an admin
token, and every /admin/* request must carry it: `Authorization: Bearer <token>`. A configured token
is required on loopback as well.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket

from aiohttp import web

MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """True if every address `host` stands for is a loopback one. "", 0.0.0.0 and :: (every address of
    the machine) are not; a name that does not resolve is not."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def authorized(request: web.Request, token: str) -> bool:
    """No token configured, or the request carries it as a bearer token."""
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
