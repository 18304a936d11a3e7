"""Whether the emulator's /admin/* routes need a token: the decision alone (docs/platform.md "Admin API")."""

from __future__ import annotations

import pytest

from harness.platform.adminauth import is_loopback
from harness.platform.config import ConfigError, Settings

pytestmark = pytest.mark.unit

TOKEN = "t" * 16


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "localhost"])
def test_loopback_addresses_need_no_token(host: str):
    assert is_loopback(host)
    assert Settings().with_changes(host=host).admin_token == ""


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.1.2.3", "192.0.2.7", "fe80::1", "no-such-host.invalid"])
def test_any_other_address_needs_a_token(host: str):
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match=r"^admin_token: is required when the emulator listens on"):
        Settings().with_changes(host=host)
    assert Settings().with_changes(host=host, admin_token=TOKEN).admin_token == TOKEN


def test_a_short_token_is_refused_and_a_token_is_never_shown():
    with pytest.raises(ConfigError, match=r"^admin_token: must be at least 16 characters"):
        Settings().with_changes(admin_token="short")
    assert TOKEN not in repr(Settings(admin_token=TOKEN))
