"""Admin authentication: JWT HS256 tokens (PyJWT) and a lockout after repeated failed logins."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable

import jwt

ALGORITHMS = ["HS256"]  # the allow-list: "none" and every other algorithm are refused
ISSUER = "reference-bot"
MAX_TRACKED = 10_000  # sources and usernames remembered by the lockout, each
MAX_TRUSTED_SOURCES = 16  # addresses remembered per username after a successful login
MAX_LOCKOUT_SECONDS = 900.0  # cap of the doubling lockout
MIN_KEY_BYTES = 32  # HS256 keys shorter than the hash output (RFC 7518 3.2) can be brute-forced offline


class AuthError(ValueError):
    pass


def check_signing_key(key: str) -> None:
    if len(key.encode()) < MIN_KEY_BYTES:
        raise AuthError(
            f"BOT_JWT_SECRET: must be at least {MIN_KEY_BYTES} bytes for HS256 (got {len(key.encode())}); "
            "make one with `openssl rand -hex 32`"
        )


class TokenIssuer:
    def __init__(self, key: str, audience: str, ttl_seconds: int, clock: Callable[[], float] = time.time) -> None:
        check_signing_key(key)
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


class SlidingCounters:
    """Failures per key inside a sliding window, for at most `max_keys` keys.

    When the table is full, keys whose window has emptied are dropped first; a key that still does not
    fit shares the OVERFLOW counter (limited like any other key) instead of evicting a live one, so
    flooding the table with new keys never resets anybody's count.
    """

    OVERFLOW = "\x00overflow"

    def __init__(self, window_seconds: float, max_keys: int) -> None:
        self.window, self.max_keys = window_seconds, max_keys
        self._hits: dict[str, deque[float]] = {}

    def key_for(self, key: str, now: float) -> str:
        if key in self._hits or len(self._hits) < self.max_keys:
            return key
        for stale in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]:
            del self._hits[stale]
        return key if len(self._hits) < self.max_keys else self.OVERFLOW

    def add(self, key: str, now: float) -> int:
        """Record a failure; the key's failures inside the window, this one included."""
        hits = self._hits.setdefault(self.key_for(key, now), deque())
        hits.append(now)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return len(hits)

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)

    def __len__(self) -> int:
        return len(self._hits)


class LoginGuard:
    """Failed-login limits that hold against password spraying and cannot lock the real admin out.

    Two limits, each `failures` within `window_seconds`:
    - per source address: reached, the address is refused whatever username it tries, so rotating
      made-up usernames gains an attacker nothing;
    - per username: reached, the username is refused to every address that has never logged in as it;
      an address that has (the admin's own machine) keeps access, so failures from elsewhere cannot
      lock the admin out.
    Each lockout of a key doubles the next one (capped at `max_lockout_seconds`). Memory is bounded by
    `max_tracked` keys per table (see SlidingCounters).
    """

    def __init__(
        self,
        failures: int,
        window_seconds: float,
        lockout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED,
        max_lockout_seconds: float = MAX_LOCKOUT_SECONDS,
    ) -> None:
        self.failures, self.lockout, self.max_lockout = failures, lockout_seconds, max_lockout_seconds
        self._clock = clock
        self._max_tracked = max_tracked
        self._by_source = SlidingCounters(window_seconds, max_tracked)
        self._by_user = SlidingCounters(window_seconds, max_tracked)
        self._locked_until: dict[str, float] = {}  # "source:<addr>" / "user:<name>" -> monotonic deadline
        self._lockouts: dict[str, int] = {}  # consecutive lockouts per key (doubling)
        self._trusted: dict[str, dict[str, None]] = {}  # username -> addresses that logged in as it (in order)

    def _remaining(self, key: str, now: float) -> float:
        return max(0.0, self._locked_until.get(key, 0.0) - now)

    def locked_for(self, username: str, source: str) -> float:
        """Seconds `source` must wait before trying `username` again; 0 when it may try now."""
        now = self._clock()
        src = f"source:{self._by_source.key_for(source, now)}"
        wait = self._remaining(src, now)
        if source not in self._trusted.get(username, ()):
            wait = max(wait, self._remaining(f"user:{self._by_user.key_for(username, now)}", now))
        return wait

    def _lock(self, key: str, now: float) -> None:
        count = self._lockouts.get(key, 0) + 1
        self._lockouts[key] = count
        self._locked_until[key] = now + min(self.max_lockout, self.lockout * 2 ** (count - 1))
        if len(self._locked_until) > 2 * self._max_tracked:  # drop expired locks, keep memory bounded
            live = {k: v for k, v in self._locked_until.items() if v > now}
            self._locked_until = live
            self._lockouts = {k: v for k, v in self._lockouts.items() if k in live}

    def failed(self, username: str, source: str) -> None:
        now = self._clock()
        source_key = self._by_source.key_for(source, now)
        if self._by_source.add(source, now) >= self.failures:
            self._lock(f"source:{source_key}", now)
            self._by_source.clear(source_key)
        user_key = self._by_user.key_for(username, now)
        if self._by_user.add(username, now) >= self.failures:
            self._lock(f"user:{user_key}", now)
            self._by_user.clear(user_key)

    def succeeded(self, username: str, source: str) -> None:
        """The source proved it knows the password: trust it for this username, forget its failures."""
        self._by_source.clear(source)
        self._locked_until.pop(f"source:{source}", None)
        self._lockouts.pop(f"source:{source}", None)
        trusted = self._trusted.setdefault(username, {})
        trusted.pop(source, None)
        trusted[source] = None
        if len(trusted) > MAX_TRUSTED_SOURCES:  # forget the address that logged in longest ago
            del trusted[next(iter(trusted))]


class LogThrottle:
    """At most `burst` log lines at once and `per_second` on average; the rest are counted, and the
    next line that is written carries how many were left out, so nothing disappears silently."""

    def __init__(self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst = per_second, burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self.suppressed = 0

    def allow(self) -> int | None:
        """None: leave this line out (it is counted). Otherwise the number left out since the last line."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            self.suppressed += 1
            return None
        self._tokens -= 1
        left_out, self.suppressed = self.suppressed, 0
        return left_out


class UsernameTag:
    """What the log may say about a username: the admin's own name in clear, anything else (a typo, a
    password typed into the wrong field, a sprayed name) as a keyed hash, so that repeated tries can be
    correlated within one process's log without the text ever being written."""

    def __init__(self, known: str) -> None:
        self.known = known
        self._key = secrets.token_bytes(16)

    def __call__(self, username: str) -> str:
        if username == self.known:
            return username
        digest = hmac.new(self._key, username.encode(), hashlib.sha256).hexdigest()[:12]
        return f"unknown#{digest}"
