import jwt
import pytest

from reference_bot.auth import (
    AuthError,
    LoginGuard,
    LogThrottle,
    TokenIssuer,
    UsernameTag,
    check_signing_key,
    password_matches,
)

pytestmark = pytest.mark.unit

KEY = "k" * 64


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_token_round_trip_and_one_hour_lifetime():
    issuer = TokenIssuer(KEY, "aud-1", 3600)
    claims = issuer.verify(issuer.issue("admin"))
    assert claims["sub"] == "admin" and claims["exp"] - claims["iat"] == 3600


def test_expired_token_is_rejected():
    clock = Clock(1_000.0)  # issued long ago
    token = TokenIssuer(KEY, "aud-1", 3600, clock=clock).issue("admin")
    with pytest.raises(AuthError, match="expired"):
        TokenIssuer(KEY, "aud-1", 3600).verify(token)


def test_wrong_audience_signature_and_alg_none_are_rejected():
    good = TokenIssuer(KEY, "aud-1", 3600)
    with pytest.raises(AuthError, match="audience"):
        TokenIssuer(KEY, "aud-2", 3600).verify(good.issue("admin"))
    with pytest.raises(AuthError, match="signature"):
        TokenIssuer("x" * 64, "aud-1", 3600).verify(good.issue("admin"))
    claims = jwt.decode(good.issue("admin"), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(AuthError, match="algorithm"):
        good.verify(unsigned)
    hs512 = jwt.encode(claims, KEY, algorithm="HS512")
    with pytest.raises(AuthError, match="algorithm"):
        good.verify(hs512)


def test_tampered_payload_is_rejected():
    token = TokenIssuer(KEY, "aud-1", 3600).issue("admin")
    header, _payload, signature = token.split(".")
    other = TokenIssuer(KEY, "aud-1", 3600).issue("root").split(".")[1]
    with pytest.raises(AuthError, match="signature"):
        TokenIssuer(KEY, "aud-1", 3600).verify(f"{header}.{other}.{signature}")


def test_lockout_after_repeated_failures_then_expires():
    clock = Clock()
    guard = LoginGuard(failures=3, window_seconds=60, lockout_seconds=30, clock=clock)
    for _ in range(2):
        guard.failed("admin", "10.0.0.9")
    assert guard.locked_for("admin", "10.0.0.9") == 0
    guard.failed("admin", "10.0.0.9")
    assert guard.locked_for("admin", "10.0.0.9") == pytest.approx(30)
    assert guard.locked_for("someone-else", "10.0.0.9") == pytest.approx(30)  # the source is locked out
    assert guard.locked_for("someone-else", "10.0.0.7") == 0  # other sources and users are not
    clock.now += 31
    assert guard.locked_for("admin", "10.0.0.9") == 0


def test_failures_outside_the_window_do_not_add_up():
    clock = Clock()
    guard = LoginGuard(failures=3, window_seconds=60, lockout_seconds=30, clock=clock)
    for _ in range(5):
        guard.failed("admin", "10.0.0.9")
        clock.now += 40
    assert guard.locked_for("admin", "10.0.0.9") == 0


def test_each_lockout_of_a_source_doubles_up_to_the_cap():
    clock = Clock()
    guard = LoginGuard(failures=2, window_seconds=60, lockout_seconds=30, clock=clock, max_lockout_seconds=100)
    seen = []
    for _ in range(4):
        guard.failed("admin", "10.0.0.9")
        guard.failed("admin", "10.0.0.9")
        seen.append(guard.locked_for("admin", "10.0.0.9"))
        clock.now += seen[-1] + 1
    assert seen == [pytest.approx(30), pytest.approx(60), pytest.approx(100), pytest.approx(100)]


def test_spraying_made_up_usernames_does_not_reset_the_count():
    """Interleaving more made-up usernames than the guard can track with real guesses used to evict the
    real username's count: 124 guesses a minute and never a lockout."""
    clock = Clock()
    guard = LoginGuard(failures=5, window_seconds=60, lockout_seconds=30, clock=clock, max_tracked=100)
    guesses = 0
    for i in range(10_001):
        if guard.locked_for("admin", "10.6.6.6") > 0:
            break
        guard.failed(f"user-{i}", "10.6.6.6")  # spray
        if i % 50 == 0:
            guard.failed("admin", "10.6.6.6")
            guesses += 1
        clock.now += 0.001
    assert guard.locked_for("admin", "10.6.6.6") > 0 and guesses <= 1


def test_spraying_from_many_sources_fills_an_overflow_counter_not_a_reset():
    clock = Clock()
    guard = LoginGuard(failures=5, window_seconds=60, lockout_seconds=30, clock=clock, max_tracked=10)
    for i in range(10):  # fill the source table with live counters
        guard.failed("admin", f"10.1.0.{i}")
    for i in range(5):  # new sources no longer fit: they share one limited counter
        guard.failed("admin", f"10.2.0.{i}")
    assert guard.locked_for("nobody", "10.2.0.99") > 0  # the overflow counter is locked
    assert guard.locked_for("nobody", "10.1.0.3") == 0  # the tracked sources kept their own counts


def test_failures_from_elsewhere_cannot_lock_the_admin_out_of_a_known_source():
    clock = Clock()
    guard = LoginGuard(failures=5, window_seconds=60, lockout_seconds=30, clock=clock)
    guard.succeeded("admin", "10.0.0.1")  # the admin's own machine logged in before
    for i in range(20):
        guard.failed("admin", f"10.9.9.{i}")  # the attacker rotates addresses
    assert guard.locked_for("admin", "10.9.9.99") > 0  # a new address is refused for this username
    assert guard.locked_for("admin", "10.0.0.1") == 0  # the known-good address is not


def test_log_throttle_counts_every_line_it_leaves_out():
    clock = Clock()
    throttle = LogThrottle(per_second=2, burst=5, clock=clock)
    written, left_out = 0, 0
    for _ in range(1000):
        said = throttle.allow()
        if said is not None:
            written += 1
            left_out += said
        clock.now += 0.01  # 100 attempts a second for 10 s
    assert written <= 5 + 2 * 10 + 1
    assert written + left_out + throttle.suppressed == 1000


def test_only_the_admin_username_is_logged_in_clear():
    tag = UsernameTag("admin")
    assert tag("admin") == "admin"
    secretish = tag("hunter2-my-password")
    assert "hunter2" not in secretish and secretish.startswith("unknown#")
    assert tag("hunter2-my-password") == secretish  # stable within a process, so tries correlate


def test_short_signing_keys_are_refused():
    with pytest.raises(AuthError, match="at least 32 bytes"):
        check_signing_key("k")
    with pytest.raises(AuthError, match="BOT_JWT_SECRET"):
        TokenIssuer("k" * 31, "aud", 3600)
    check_signing_key("k" * 32)


def test_password_check_refuses_an_unset_password():
    assert password_matches("pw", "pw") and not password_matches("", "") and not password_matches("x", "pw")
