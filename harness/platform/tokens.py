"""Access tokens (JWT HS256 with an expiry) and session-webhook tokens, both signed with one server key.

Session tokens carry the message they answer, so the emulator keeps no per-message webhook state
(a week at thousands of messages per second would not fit in memory otherwise).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

from harness.platform.responses import ApiError

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Session:
    msg_id: str
    app_id: str
    conversation_id: str


class TokenIssuer:
    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def access_token(self, app_id: str, ttl_s: float) -> str:
        now = int(time.time())
        return jwt.encode({"sub": app_id, "iat": now, "exp": now + int(ttl_s), "typ": "access"},
                          self._key, algorithm=ALGORITHM)

    def app_of(self, token: str | None) -> str:
        """The app an access token was issued to, or a 401 ApiError saying what is wrong with it."""
        if not token:
            raise ApiError(401, "InvalidAuthentication", "no access token: send header x-acs-dingtalk-access-token")
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "InvalidAuthentication", "access token expired; get a new one from "
                                                         "/v1.0/oauth2/accessToken") from None
        except jwt.InvalidTokenError as exc:
            raise ApiError(401, "InvalidAuthentication", f"access token invalid: {exc}") from None
        if claims.get("typ") != "access":
            raise ApiError(401, "InvalidAuthentication", "token is not an access token")
        return str(claims["sub"])

    def session_token(self, msg_id: str, app_id: str, conversation_id: str, ttl_s: float) -> str:
        claims = {"m": msg_id, "a": app_id, "c": conversation_id, "exp": int(time.time() + ttl_s), "typ": "session"}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def session_of(self, token: str | None) -> Session:
        if not token:
            raise ApiError(400, "InvalidSessionWebhook", "no session parameter in the webhook URL")
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM])
        except jwt.ExpiredSignatureError:
            raise ApiError(400, "InvalidSessionWebhook", "sessionWebhook expired (see sessionWebhookExpiredTime)") \
                from None
        except jwt.InvalidTokenError:
            raise ApiError(400, "InvalidSessionWebhook", "sessionWebhook URL not issued by this platform") from None
        if claims.get("typ") != "session":
            raise ApiError(400, "InvalidSessionWebhook", "token is not a session webhook token")
        return Session(claims["m"], claims["a"], claims["c"])
