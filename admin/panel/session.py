"""The admin panel's session: a cookie signed with `SECRET_KEY` (itsdangerous) holding the
user's id, the user's current session key (replaced at sign-out and by a password change, which
ends the sessions made with the old one) and the CSRF token that every form of the session must
carry back."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from gateway.core.crypto import derive

COOKIE = "sgw_session"
LOGIN_COOKIE = "sgw_login"
"""Before sign-in: a random value that the login form must repeat (double submit)."""


@dataclass(frozen=True, slots=True)
class Session:
    user_id: int
    key: str
    csrf: str


class Sessions:
    def __init__(self, secret_keys: list[bytes], lifetime: float, secure: bool) -> None:
        """`secret_keys`: the current key first, then previous ones (still accepted)."""
        keys = [derive(key, b"admin-session") for key in secret_keys]
        # itsdangerous signs with the last key and accepts any of them.
        self._serializer = URLSafeTimedSerializer(list(reversed(keys)), salt="session")
        self._lifetime = lifetime
        self._secure = secure

    def read(self, request: Request) -> Session | None:
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=int(self._lifetime))
            return Session(int(data["u"]), str(data["k"]), str(data["c"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def start(self, response: Response, user_id: int, key: str) -> None:
        value = self._serializer.dumps({"u": user_id, "k": key, "c": secrets.token_urlsafe(24)})
        self._set(response, COOKIE, value, int(self._lifetime))
        response.delete_cookie(LOGIN_COOKIE, path="/")

    def end(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")

    def login_token(self, request: Request) -> str:
        """The value the login form carries: the one in the pre-login cookie, or a new one
        (then set with `keep_login_token`)."""
        return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)

    def keep_login_token(self, response: Response, token: str) -> None:
        self._set(response, LOGIN_COOKIE, token, 3600)

    def _set(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )


def same_token(expected: str | None, given: object) -> bool:
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
