"""Admin authentication: JWT HS256 tokens (PyJWT) and a lockout after repeated failed logins."""

from __future__ import annotations

import hmac
import time
from collections import deque
from collections.abc import Callable

import jwt

ALGORITHMS = ["HS256"]  # the allow-list: "none" and every other algorithm are refused
ISSUER = "reference-bot"
MAX_TRACKED = 10_000  # usernames remembered by the lockout


class AuthError(ValueError):
    pass


class TokenIssuer:
    def __init__(self, key: str, audience: str, ttl_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.audience = audience
        self.ttl = ttl_seconds
        self._clock = clock

    def issue(self, subject: str) -> str:
        now = int(self._clock())
        claims = {"sub": subject, "aud": self.audience, "iss": ISSUER, "iat": now, "exp": now + self.ttl}
        return jwt.encode(claims, self._key, algorithm=ALGORITHMS[0])

    def verify(self, token: str) -> dict:
        """The token's claims; AuthError naming the problem for a bad signature, algorithm, expiry or audience."""
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("token is for another audience") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise AuthError("token algorithm not allowed") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("token signature invalid") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"token invalid: {exc}") from exc


def password_matches(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


class LoginGuard:
    """Lock a username out for `lockout_seconds` after `failures` failed logins within `window_seconds`."""

    def __init__(
        self, failures: int, window_seconds: float, lockout_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures, self.window, self.lockout = failures, window_seconds, lockout_seconds
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked_for(self, username: str) -> float:
        """Seconds the username stays locked; 0 when it may try."""
        return max(0.0, self._locked_until.get(username, 0.0) - self._clock())

    def failed(self, username: str) -> None:
        now = self._clock()
        recent = self._recent.setdefault(username, deque())
        recent.append(now)
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= self.failures:
            self._locked_until[username] = now + self.lockout
            recent.clear()
        if len(self._recent) > MAX_TRACKED:  # bound memory against username spraying
            self._recent.pop(next(iter(self._recent)))
        if len(self._locked_until) > MAX_TRACKED:
            self._locked_until = {u: t for u, t in self._locked_until.items() if t > now}

    def succeeded(self, username: str) -> None:
        self._recent.pop(username, None)
        self._locked_until.pop(username, None)
