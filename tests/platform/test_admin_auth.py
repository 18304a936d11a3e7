"""The emulator's /admin/* routes behind a token, over real sockets on 127.0.0.1 (the rule for other
addresses: test_admin_rule.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import aiohttp
import pytest

from harness.core.contract import ADMIN_TOKEN_ENV
from tests.platform.helpers import async_test, server

pytestmark = pytest.mark.integration

TOKEN = "admin-token-for-the-test"
ADMIN = [("GET", "/admin/ledger"), ("GET", "/admin/status"), ("GET", "/admin/faults"), ("POST", "/admin/faults")]


@async_test
async def test_on_loopback_without_a_configured_token_admin_needs_none():
    async with server() as srv, aiohttp.ClientSession() as http:
        for method, path in ADMIN:
            async with http.request(method, srv.url + path, json={} if method == "POST" else None) as r:
                assert r.status == 200, (path, await r.text())


@async_test
async def test_a_configured_token_is_required_on_every_admin_route_and_nowhere_else():
    async with server(admin_token=TOKEN) as srv, aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": TOKEN}):
            for method, path in [*ADMIN, ("POST", "/admin/actions/disconnect")]:
                async with http.request(method, srv.url + path, json={"all": True}, headers=headers) as r:
                    assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer", path
                    assert (await r.json())["code"] == "Unauthorized"
        good = {"Authorization": f"Bearer {TOKEN}"}
        for method, path in ADMIN:
            async with http.request(method, srv.url + path, json={} if method == "POST" else None, headers=good) as r:
                assert r.status == 200, path
        for path in ("/healthz", "/metrics"):  # Prometheus and readiness checks need no token
            async with http.get(srv.url + path) as r:
                assert r.status == 200
        assert srv.faults.as_dict()["push_drop_ratio"] == 0  # nothing a refused request sent was applied


def test_the_platform_command_off_loopback_refuses_to_start_without_the_token():
    env = {k: v for k, v in os.environ.items() if k != ADMIN_TOKEN_ENV}
    env["HARNESS_APP_SECRET"] = "cli-secret-value"
    result = subprocess.run(
        [sys.executable, "-m", "harness", "platform", "--app", "x", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("harness platform: admin_token: is required when the emulator listens on")
    assert ADMIN_TOKEN_ENV in result.stderr and result.stderr.count("\n") == 1
