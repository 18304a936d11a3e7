import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_bot.metrics import ERROR_CODE, OTHER_CODE, BotMetrics, error_code
from reference_bot.replier import AccessTokens, classify, parse_body, required_scopes

pytestmark = pytest.mark.unit

QPS = {"code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"}
PERMISSION = {
    "code": "Forbidden.AccessDenied.AccessTokenPermissionDenied",
    "accessdenieddetail": {"requiredScopes": ["Card.Streaming.Write"]},
}


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


def test_code_label_is_the_error_bodys_code_and_bounded():
    assert error_code("403", QPS) == "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"
    assert error_code("403", PERMISSION) == "Forbidden.AccessDenied.AccessTokenPermissionDenied"
    assert error_code("429", {"code": "Throttling"}) == "Throttling"
    assert error_code("200", {"code": "Throttling"}) == ""  # success: whatever a result calls `code`
    assert error_code("500", {"message": "no code"}) == error_code("500", {"code": ""}) == ""
    assert error_code("error") == error_code("502", parse_body(b"<html>Bad gateway</html>")) == ""
    assert error_code("400", {"code": 40035}) == "40035"
    for junk in ("has spaces", "x" * 65, "line\nbreak", "名字", "a/b", ["list"], {"nested": 1}, True):
        assert error_code("400", {"code": junk}) == OTHER_CODE, junk


@given(st.one_of(st.text(), st.integers(), st.none(), st.booleans(), st.lists(st.text())))
def test_code_label_is_always_short_and_identifier_like(code: object) -> None:
    label = error_code("403", {"code": code})
    assert label in ("", OTHER_CODE) or ERROR_CODE.fullmatch(label)


def test_each_attempt_is_counted_with_its_code():
    metrics = BotMetrics("t", 10)
    metrics.count_request("card_create", "403", PERMISSION)
    metrics.count_request("card_create", "403", {"code": "not a code!"})
    metrics.count_request("card_create", "200", {})
    metrics.count_request("card_create", "error")
    value = metrics.value
    assert value("chatbot_platform_requests_total", api="card_create", status="403") == 2
    assert value("chatbot_platform_requests_total", api="card_create", status="403", code=OTHER_CODE) == 1
    assert value("chatbot_platform_requests_total", api="card_create", code="") == 2
    assert value("chatbot_platform_requests_total", api="card_create") == 4


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
