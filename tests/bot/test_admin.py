"""The admin API over real HTTP: login, lockout, JWT checks, status, metrics, health and readiness."""

import asyncio
import io
import json
import logging

import aiohttp
import jwt
import pytest

from harness.core.contract import METRICS
from harness.core.version import __version__
from reference_bot.auth import TokenIssuer
from reference_bot.logs import LOGGER_NAME, JsonLinesFormatter
from tests.bot.helpers import ADMIN_PASSWORD, JWT_KEY, async_test, running, wait_for

pytestmark = pytest.mark.integration

AUDIENCE = "reference-bot-admin"


async def login(
    http: aiohttp.ClientSession, url: str, password: str, username: str = "admin"
) -> aiohttp.ClientResponse:
    async with http.post(f"{url}/login", json={"username": username, "password": password}) as resp:
        await resp.read()
        return resp


async def status_code(http: aiohttp.ClientSession, url: str, token: str) -> int:
    async with http.get(f"{url}/status", headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status


@async_test
async def test_login_issues_a_one_hour_token_that_opens_status():
    async with running() as (_srv, bot), aiohttp.ClientSession() as http:
        async with http.post(f"{bot.admin_url}/login", json={"username": "admin", "password": ADMIN_PASSWORD}) as r:
            assert r.status == 200
            body = await r.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
        claims = jwt.decode(body["access_token"], JWT_KEY, algorithms=["HS256"], audience=AUDIENCE)
        assert claims["exp"] - claims["iat"] == 3600
        async with http.get(
            f"{bot.admin_url}/status", headers={"Authorization": f"Bearer {body['access_token']}"}
        ) as r:
            assert r.status == 200
            status = await r.json()
        assert status["connection"]["connected"] is True and status["presence"]["state"] == "online"
        assert status["queue"]["capacity"] == 1000 and status["engine"]["kind"] == "simulated"
        assert set(status["counters"]) >= {"received", "processed", "duplicates", "queue_rejected"}
        assert bot.metrics.value("chatbot_login_attempts_total", outcome="success") == 1


@async_test
async def test_failed_logins_are_counted_and_lock_the_user_out():
    async with (
        running(admin__lockout_failures=3, admin__lockout_seconds=0.5) as (_srv, bot),
        aiohttp.ClientSession() as http,
    ):
        for _ in range(3):
            assert (await login(http, bot.admin_url, "wrong")).status == 401
        locked = await login(http, bot.admin_url, ADMIN_PASSWORD)
        assert locked.status == 429 and "Retry-After" in locked.headers
        other = await login(http, bot.admin_url, "x", username="nobody")
        assert other.status == 429  # the source is locked out, whatever username it tries
        async with http.post(f"{bot.admin_url}/login", data=b"not json") as resp:
            assert resp.status == 400
        assert bot.metrics.value("chatbot_login_attempts_total", outcome="failure") == 6
        unlocked: list[int] = []

        async def try_again() -> None:
            unlocked.append((await login(http, bot.admin_url, ADMIN_PASSWORD)).status)

        for _ in range(100):  # poll until the lockout (0.5 s) has passed
            await try_again()
            if unlocked[-1] == 200:
                break
            await asyncio.sleep(0.1)
        assert unlocked[-1] == 200 and set(unlocked[:-1]) <= {429}


@async_test
async def test_bad_tokens_are_refused():
    async with running() as (_srv, bot), aiohttp.ClientSession() as http:
        good = TokenIssuer(JWT_KEY, AUDIENCE, 3600).issue("admin")
        assert await status_code(http, bot.admin_url, good) == 200
        header, _payload, signature = good.split(".")
        other_payload = TokenIssuer(JWT_KEY, AUDIENCE, 3600).issue("root").split(".")[1]
        claims = jwt.decode(good, JWT_KEY, algorithms=["HS256"], audience=AUDIENCE)
        refused = {
            "tampered": f"{header}.{other_payload}.{signature}",
            "expired": TokenIssuer(JWT_KEY, AUDIENCE, 3600, clock=lambda: 1_000_000.0).issue("admin"),
            "alg none": jwt.encode(claims, None, algorithm="none"),
            "other key": TokenIssuer("another-key-" * 4, AUDIENCE, 3600).issue("admin"),
            "other audience": TokenIssuer(JWT_KEY, "someone-else", 3600).issue("admin"),
            "garbage": "abc.def",
            "not the admin": TokenIssuer(JWT_KEY, AUDIENCE, 3600).issue("root"),
        }
        for name, token in refused.items():
            assert await status_code(http, bot.admin_url, token) == 401, name
        async with http.get(f"{bot.admin_url}/status") as resp:
            assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"


@async_test
async def test_metrics_expose_the_whole_contract_and_health_follows_the_stream():
    async with running() as (srv, bot), aiohttp.ClientSession() as http:
        async with http.get(f"{bot.admin_url}/metrics") as resp:
            text = await resp.text()
        for metric in (m for m in METRICS.values() if m.name.startswith("chatbot_")):
            sample = f"{metric.name}_bucket" if metric.kind == "histogram" else metric.name
            assert f"\n{sample}" in text, metric.name
        assert 'le="0.5"' in text and f'chatbot_build_info{{version="{__version__}"}} 1.0' in text
        async with http.get(f"{bot.admin_url}/healthz") as resp:
            assert resp.status == 200
        async with http.get(f"{bot.admin_url}/readyz") as resp:
            assert resp.status == 200
        await srv.stop()
        await wait_for(lambda: not bot.stream.connected_event.is_set(), "the stream to drop")
        async with http.get(f"{bot.admin_url}/readyz") as resp:
            assert resp.status == 503
        async with http.get(f"{bot.admin_url}/healthz") as resp:
            assert resp.status == 200
        assert bot.metrics.value("chatbot_stream_connected") == 0
        assert bot.presence.as_dict()["state"] == "offline"


@async_test
async def test_an_attacker_elsewhere_cannot_lock_the_admin_out():
    """Failures from one loopback address (127.0.0.2) lock that address and the username for unknown
    addresses; the admin, who logged in from 127.0.0.1 before, still gets in from there."""
    attacker = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with (
        running(admin__lockout_failures=3, admin__lockout_seconds=30) as (_srv, bot),
        aiohttp.ClientSession() as admin,
        aiohttp.ClientSession(connector=attacker) as http,
    ):
        assert (await login(admin, bot.admin_url, ADMIN_PASSWORD)).status == 200
        for _ in range(3):
            assert (await login(http, bot.admin_url, "guess")).status == 401
        assert (await login(http, bot.admin_url, ADMIN_PASSWORD)).status == 429  # even the right password
        assert (await login(admin, bot.admin_url, ADMIN_PASSWORD)).status == 200


@async_test
async def test_a_login_flood_is_logged_in_bounded_lines_with_counts_and_no_typed_secrets():
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(JsonLinesFormatter())
    logging.getLogger(LOGGER_NAME).addHandler(handler)
    try:
        async with (
            running(admin__lockout_failures=1000) as (_srv, bot),
            aiohttp.ClientSession() as http,
        ):
            for i in range(200):
                await login(http, bot.admin_url, "x", username=f"hunter2-password-{i}")
    finally:
        logging.getLogger(LOGGER_NAME).removeHandler(handler)
    text = captured.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    failed = [line for line in lines if line["event"] in ("login_failed", "login_locked")]
    assert 0 < len(failed) < 100
    assert len(failed) + sum(line["suppressed"] for line in failed) <= 200
    assert "hunter2" not in text
    assert bot.metrics.value("chatbot_login_attempts_total", outcome="failure") == 200
