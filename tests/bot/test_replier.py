import asyncio

from reference_bot.replier import AccessTokens, classify, required_scopes

QPS = {"code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"}
PERMISSION = {"code": "Forbidden.AccessDenied.AccessTokenPermissionDenied",
              "accessdenieddetail": {"requiredScopes": ["Card.Streaming.Write"]}}


def test_classify_tells_retryable_from_permanent_failures():
    assert classify(200, {}) == "ok"
    assert classify(200, {"errcode": 0}) == "ok"
    assert classify(200, {"errcode": 310000, "errmsg": "sign not match"}) == "fail"
    assert classify(401, {}) == "refresh"
    assert classify(429, {}) == "retry"
    assert classify(403, QPS) == "retry"
    assert classify(403, {"code": "Forbidden.AccessDenied.QpsLimitForApi"}) == "retry"
    assert classify(403, PERMISSION) == "permission"
    assert classify(503, {}) == "retry"
    assert classify(0, {}) == "retry"  # no response at all
    assert classify(400, {}) == classify(404, {}) == "fail"
    assert required_scopes(PERMISSION) == ["Card.Streaming.Write"]


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_is_cached_refreshed_early_and_fetched_once_for_concurrent_callers():
    clock = Clock()
    fetched: list[int] = []

    async def fetch() -> tuple[str, float]:
        fetched.append(1)
        await asyncio.sleep(0.01)
        return f"t{len(fetched)}", 7200.0

    async def scenario() -> None:
        tokens = AccessTokens(fetch, clock=clock)
        assert set(await asyncio.gather(*(tokens.get() for _ in range(20)))) == {"t1"}
        clock.now = 7200 - 301  # more than 5 minutes before expiry: still cached
        assert await tokens.get() == "t1"
        clock.now = 7200 - 299  # inside the refresh margin: refreshed before it expires
        assert await tokens.get() == "t2"
        tokens.invalidate("t1")  # a stale token's 401 does not throw away the fresh one
        assert await tokens.get() == "t2"
        tokens.invalidate("t2")
        assert await tokens.get() == "t3"

    asyncio.run(scenario())
    assert len(fetched) == 3
