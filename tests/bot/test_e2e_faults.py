"""Open-API faults and delivery faults against the real emulator: the replier's policy, overflow and
duplicates. The emulator's forced-error fault draws from `faults.rng`; a scripted draw makes
"fail exactly the first N calls" deterministic."""

import asyncio
import logging

import pytest

from tests.bot.helpers import User, async_test, running, wait_for

pytestmark = pytest.mark.integration


class FirstCallsFail:
    """Stands in for faults.rng: the first `n` draws hit the forced error, every later draw misses."""

    def __init__(self, n: int) -> None:
        self.left = n

    def random(self) -> float:
        self.left -= 1
        return 0.0 if self.left >= 0 else 0.999


def requests(bot, api: str, status: int, **code: str) -> float:
    return bot.metrics.value("chatbot_platform_requests_total", api=api, status=str(status), **code)


@async_test
async def test_access_token_expiring_mid_run_is_refreshed_before_it_fails():
    async with running(faults={"token_ttl_s": 1}) as (srv, bot), User.connect(srv.url) as user:
        for i in range(6):
            reply = (await user.until(await user.send(f"q{i}")))[-1]
            assert reply["type"] == "reply"
            await asyncio.sleep(0.4)  # spread the messages over several token lifetimes (pacing)
        assert requests(bot, "access_token", 200) >= 2
        # A 1 s token with whole-second expiry can die early; a 401 then costs one refresh, never a message.
        assert bot.metrics.value("chatbot_messages_processed_total", outcome="failed") == 0


@async_test
async def test_401_refreshes_the_token_once_then_succeeds():
    async with (
        running(faults={"errors": {"card_create": {"status": 401, "ratio": 0.5}}}) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        srv.faults.rng = FirstCallsFail(1)
        reply = (await user.until(await user.send("hello")))[-1]
        assert reply["via"] == "card"
        assert (requests(bot, "card_create", 401), requests(bot, "card_create", 200)) == (1, 1)
        assert requests(bot, "access_token", 200) == 2
        assert bot.metrics.value("chatbot_platform_retries_total", api="card_create") == 0


@async_test
async def test_401_twice_fails_the_message_without_a_loop(caplog):
    caplog.set_level(logging.INFO, logger="reference_bot")
    async with (
        running(faults={"errors": {"card_create": {"status": 401, "ratio": 1.0}}}) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        await user.send("hello")
        await wait_for(lambda: bot.metrics.value("chatbot_messages_processed_total", outcome="failed") == 1, "failure")
        assert requests(bot, "card_create", 401) == 2
        assert [r.fields["api"] for r in caplog.records if r.msg == "reply_failed"] == ["card_create"]


@async_test
async def test_429_burst_is_retried_within_policy():
    async with (
        running(faults={"errors": {"card_streaming": {"status": 429, "ratio": 0.5}}}) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        srv.faults.rng = FirstCallsFail(2)
        reply = (await user.until(await user.send("hello")))[-1]
        assert reply["via"] == "card"
        assert requests(bot, "card_streaming", 429, code="Throttling") == 2
        assert requests(bot, "card_streaming", 200) == requests(bot, "card_streaming", 200, code="") > 0
        assert bot.metrics.value("chatbot_platform_retries_total", api="card_streaming") == 2


@async_test
async def test_qps_limit_403_is_retried_like_429():
    async with (
        running(faults={"errors": {"card_create": {"status": 429, "ratio": 0.5}}}, platform={"qps_mode": "403"}) as (
            srv,
            bot,
        ),
        User.connect(srv.url) as user,
    ):
        srv.faults.rng = FirstCallsFail(2)
        reply = (await user.until(await user.send("hello")))[-1]
        assert reply["via"] == "card"
        assert requests(bot, "card_create", 403, code="Forbidden.AccessDenied.QpsLimitForAppkeyAndApi") == 2
        assert bot.metrics.value("chatbot_platform_retries_total", api="card_create") == 2


@async_test
async def test_retries_stop_at_three_attempts_and_are_logged(caplog):
    caplog.set_level(logging.INFO, logger="reference_bot")
    async with (
        running(faults={"errors": {"card_streaming": {"status": 429, "ratio": 1.0}}}) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        await user.send("hello")
        await wait_for(lambda: bot.metrics.value("chatbot_messages_processed_total", outcome="failed") == 1, "failure")
        assert requests(bot, "card_streaming", 429) == 3
        exhausted = [r.fields for r in caplog.records if r.msg == "retries_exhausted"]
        assert exhausted == [{"api": "card_streaming", "status": 429, "code": "Throttling", "attempts": 3}]


@async_test
async def test_permission_403_is_not_retried_logged_once_and_answered_as_text(caplog):
    caplog.set_level(logging.INFO, logger="reference_bot")
    async with (
        running(faults={"errors": {"card_create": {"status": 403, "ratio": 1.0}}}) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        for text in ("first", "second"):
            reply = (await user.until(await user.send(text)))[-1]
            assert reply["via"] == "sessionWebhook"  # the fallback: the answer as plain text
        assert requests(bot, "card_create", 403) == 2  # one call per message: no retries
        assert requests(bot, "card_create", 403, code="Forbidden.AccessDenied.AccessTokenPermissionDenied") == 2
        assert bot.metrics.value("chatbot_platform_retries_total", api="card_create") == 0
        denied = [r.fields for r in caplog.records if r.msg == "permission_denied"]
        assert len(denied) == 1 and denied[0]["requiredScopes"] == ["Card.Instance.Write"]


@async_test
async def test_buffer_overflow_is_redelivered_not_lost(caplog):
    caplog.set_level(logging.INFO, logger="reference_bot")
    async with (
        running(
            buffer__capacity=2,
            buffer__workers=1,
            engine__first_token_seconds=0.1,
            platform={"redeliver_delay_s": 0.2, "redeliver_max": 50},
        ) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        ids = [await user.send(f"burst {i}") for i in range(8)]
        for cid in ids:
            frames = await user.until(cid)
            assert [f["type"] for f in frames].count("reply") == 1
        rejected = bot.metrics.value("chatbot_queue_rejected_total", queue="inbound")
        assert rejected >= 1
        assert len([r for r in caplog.records if r.msg == "queue_rejected"]) == rejected
        ledger = srv.summary()["messages"]
        assert (ledger["replied"], ledger["lost"], ledger["duplicate_replies"]) == (8, 0, 0)
        assert ledger["redelivered"] >= rejected


@async_test
async def test_redelivered_duplicates_are_answered_once():
    # The answer takes 1 s; meanwhile the emulator, ignoring ACKs, redelivers after 0.2 s and 0.4 s.
    async with (
        running(
            faults={"ignore_acks_ratio": 1.0},
            engine__first_token_seconds=1.0,
            platform={"ack_timeout_s": 0.2, "redeliver_max": 2},
        ) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        frames = await user.until(await user.send("say it once"))
        assert [f["type"] for f in frames].count("reply") == 1
        await wait_for(lambda: bot.metrics.value("chatbot_messages_duplicate_total") == 2, "two redeliveries")
        assert bot.metrics.value("chatbot_messages_processed_total", outcome="replied") == 1
        assert srv.summary()["messages"]["duplicate_replies"] == 0


@async_test
async def test_a_qps_limit_below_the_call_rate_is_met_by_pacing_not_lost_messages():
    """card_streaming limited to 20 calls/s (DingTalk's 403 form) while users' questions need about 45:
    retrying alone loses messages (every retry is over the limit too); the pacer learns the limit from
    the refusals and the retry policy carries the few calls refused while it learns."""
    async with (
        running(
            faults={"qps_limits": {"card_streaming": 20}},
            platform={"qps_mode": "403"},
            engine__first_token_seconds=0.0,
            engine__tokens_per_second=0.0,
            engine__reply_tokens=4,
            engine__chunk_tokens=2,
        ) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        ids = []
        for i in range(60):
            ids.append(await user.send(f"question {i}"))
            await asyncio.sleep(1 / 15)  # the offered rate, not a synchronisation
        replies = [(await user.until(cid, timeout=60))[-1] for cid in ids]
        assert [r["type"] for r in replies] == ["reply"] * 60
        assert bot.metrics.value("chatbot_messages_processed_total", outcome="failed") == 0
        assert requests(bot, "card_streaming", 403, code="Forbidden.AccessDenied.QpsLimitForAppkeyAndApi") > 0
        assert bot.metrics.value("chatbot_platform_pace_per_second", api="card_streaming") >= 1  # paced


@async_test
async def test_messages_queued_past_the_deadline_get_an_apology_and_count_as_expired(caplog):
    caplog.set_level(logging.INFO, logger="reference_bot")
    async with (
        running(
            buffer__workers=1,
            buffer__deadline_seconds=0.5,
            engine__first_token_seconds=1.0,
        ) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        ids = [await user.send(f"slow {i}") for i in range(3)]
        replies = [(await user.until(cid))[-1] for cid in ids]
        assert replies[0]["type"] == "reply" and "in time" not in replies[0]["content"]
        assert all(r["type"] == "reply" and "in time" in r["content"] for r in replies[1:])
        assert bot.metrics.value("chatbot_messages_processed_total", outcome="expired") == 2
        expired = [r.fields for r in caplog.records if r.msg == "message_expired"]
        assert len(expired) == 2 and all(e["user_told"] and e["waited_s"] > 0.5 for e in expired)


@async_test
async def test_messages_queued_past_the_deadline_can_be_dropped_and_are_counted():
    async with (
        running(
            buffer__workers=1,
            buffer__deadline_seconds=0.5,
            buffer__on_deadline="drop",
            engine__first_token_seconds=1.0,
        ) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        ids = [await user.send(f"slow {i}") for i in range(3)]
        assert (await user.until(ids[0]))[-1]["type"] == "reply"
        await wait_for(lambda: bot.metrics.value("chatbot_messages_processed_total", outcome="expired") == 2, "drops")
        assert srv.summary()["messages"]["replied"] == 1
