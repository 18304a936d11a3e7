"""Access tokens (JWT HS256 with an expiry) and session-webhook tokens, both signed with one server key.

Session tokens carry the message they answer, so the emulator keeps no per-message webhook state
(a week at thousands of messages per second would not fit in memory otherwise). They are on the hot
path of every message (made for the CALLBACK, checked on the reply), so they are a keyed BLAKE2b MAC
(a MAC by design, a third of the cost of HMAC-SHA256 per call) over a small JSON payload, not a JWT.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import jwt
import orjson

from harness.platform.clock import SYSTEM_CLOCK, Clock
from harness.platform.responses import ApiError

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Session:
    msg_id: str
    app_id: str
    conversation_id: str


class TokenIssuer:
    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._key = secrets.token_bytes(32)
        self.clock = clock

    def access_token(self, app_id: str, ttl_s: float) -> str:
        now = int(self.clock.wall())
        return jwt.encode(
            {"sub": app_id, "iat": now, "exp": now + int(ttl_s), "typ": "access"}, self._key, algorithm=ALGORITHM
        )

    def app_of(self, token: str | None) -> str:
        """The app an access token was issued to, or a 401 ApiError saying what is wrong with it."""
        if not token:
            raise ApiError(401, "InvalidAuthentication", "no access token: send header x-acs-dingtalk-access-token")
        try:  # expiry is checked below, on this issuer's clock
            claims = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"], "verify_exp": False}
            )
        except jwt.InvalidTokenError as exc:
            raise ApiError(401, "InvalidAuthentication", f"access token invalid: {exc}") from None
        if self.clock.wall() >= claims["exp"]:  # as PyJWT would judge it, on this clock
            raise ApiError(
                401, "InvalidAuthentication", "access token expired; get a new one from /v1.0/oauth2/accessToken"
            )
        if claims.get("typ") != "access":
            raise ApiError(401, "InvalidAuthentication", "token is not an access token")
        return str(claims["sub"])

    def session_token(self, msg_id: str, app_id: str, conversation_id: str, ttl_s: float) -> str:
        payload = base64.urlsafe_b64encode(
            orjson.dumps([msg_id, app_id, conversation_id, int(self.clock.wall() + ttl_s)])
        ).decode()
        return f"{payload}.{self._mac(payload)}"

    def session_of(self, token: str | None) -> Session:
        if not token:
            raise ApiError(400, "InvalidSessionWebhook", "no session parameter in the webhook URL")
        payload, _, mac = token.partition(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise ApiError(400, "InvalidSessionWebhook", "sessionWebhook URL not issued by this platform")
        try:
            msg_id, app_id, conversation_id, expires = orjson.loads(base64.urlsafe_b64decode(payload))
        except (ValueError, binascii.Error):
            raise ApiError(400, "InvalidSessionWebhook", "sessionWebhook token is malformed") from None
        if self.clock.wall() > expires:
            raise ApiError(400, "InvalidSessionWebhook", "sessionWebhook expired (see sessionWebhookExpiredTime)")
        return Session(msg_id, app_id, conversation_id)

    def _mac(self, payload: str) -> str:
        digest = hashlib.blake2b(payload.encode(), key=self._key, digest_size=18).digest()
        return base64.urlsafe_b64encode(digest).decode()
