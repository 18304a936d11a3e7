import jwt
import pytest

from reference_bot.auth import AuthError, LoginGuard, TokenIssuer, password_matches

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
        guard.failed("admin")
    assert guard.locked_for("admin") == 0
    guard.failed("admin")
    assert guard.locked_for("admin") == pytest.approx(30)
    assert guard.locked_for("someone-else") == 0
    clock.now += 31
    assert guard.locked_for("admin") == 0


def test_failures_outside_the_window_do_not_add_up():
    clock = Clock()
    guard = LoginGuard(failures=3, window_seconds=60, lockout_seconds=30, clock=clock)
    for _ in range(5):
        guard.failed("admin")
        clock.now += 40
    assert guard.locked_for("admin") == 0


def test_password_check_refuses_an_unset_password():
    assert password_matches("pw", "pw") and not password_matches("", "") and not password_matches("x", "pw")
