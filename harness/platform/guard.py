"""Checks every platform API applies after authentication: injected errors and QPS limits."""

from __future__ import annotations

from harness.core.contract import REQUIRED_SCOPE, DingTalkCode
from harness.core.faults import Faults
from harness.platform.clock import SYSTEM_CLOCK, Clock
from harness.platform.config import Settings
from harness.platform.responses import ApiError


class RateLimiter:
    """Token bucket per (app, api): `qps` calls per second with a burst of one second's worth."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self.clock = clock

    def allow(self, app_id: str, api: str, qps: float) -> bool:
        now = self.clock.monotonic()
        tokens, last = self._buckets.get((app_id, api), (qps, now))
        tokens = min(qps, tokens + (now - last) * qps)
        allowed = tokens >= 1.0
        self._buckets[(app_id, api)] = (tokens - 1.0 if allowed else tokens, now)
        return allowed


class Guard:
    def __init__(self, settings: Settings, faults: Faults, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.faults = faults
        self.limiter = RateLimiter(clock)

    def check(self, app_id: str, api: str) -> None:
        """Injected errors first, then the QPS limit of this app on this API."""
        forced = self.faults.forced_error(api)
        if forced == 401:
            raise ApiError(401, "InvalidAuthentication", "access token rejected (injected fault)", injected=True)
        if forced == 403:
            scope = REQUIRED_SCOPE.get(api, "qyapi_robot_sendmsg")
            raise ApiError(
                403,
                DingTalkCode.PERMISSION_DENIED,
                f"app {app_id} lacks the permission scope {scope} (injected fault)",
                accessdenieddetail={"requiredScopes": [scope]},
                injected=True,
            )
        fault_qps = self.faults.qps_limits.get(api)  # a limit the run's faults set is injected too
        qps = fault_qps or dict(self.settings.qps_limits).get(api)
        if forced == 429 or (qps and not self.limiter.allow(app_id, api, qps)):
            extra = {"injected": True} if forced == 429 or fault_qps else {}
            limit = "a rate limit (injected fault)" if forced == 429 else f"{qps:g} calls/s"
            if (self.faults.qps_mode or self.settings.qps_mode) == "403":
                raise ApiError(
                    403,
                    "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                    f"app {app_id} exceeded {limit} on {api}; slow down and retry",
                    **extra,
                )
            raise ApiError(429, "Throttling", f"app {app_id} exceeded {limit} on {api}; slow down and retry", **extra)
