"""The ``Authorization`` header for Kling: an API key as is, or an AK/SK pair as a JWT.

The JWT follows kling-api.md exactly: header ``{"alg":"HS256","typ":"JWT"}``, claims
``{"iss": AK, "exp": now+1800, "nbf": now-5}`` signed with SK. A token is reused until
``refresh_margin`` seconds before it expires, so a request never leaves with a token that
expires on the way; :meth:`JwtAuth.refresh` forces a new one after a 1003/1004 answer.

Neither class exposes its secret through ``repr``/``str``; the header value itself is only
ever handed to the HTTP layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import jwt

from ...credentials import KlingCredential
from ..base import ErrorKind, ProviderError

Clock = Callable[[], float]


class Auth(Protocol):
    """What the client needs: a header value, and whether re-signing can fix a 1003/1004."""

    kind: str

    def header(self) -> str: ...

    def refresh(self) -> bool:
        """Drop any cached token; ``True`` if the next header differs (JWTs only)."""
        ...


class ApiKeyAuth:
    kind = "api_key"

    def __init__(self, api_key: str) -> None:
        self._key = api_key

    def header(self) -> str:
        return f"Bearer {self._key}"

    def refresh(self) -> bool:
        return False  # a key does not expire on its own; 1004 cannot be fixed here

    def __repr__(self) -> str:
        return "ApiKeyAuth(***)"


class JwtAuth:
    kind = "access_key"

    LIFETIME = 1800
    NOT_BEFORE_SKEW = 5

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        clock: Clock = time.time,
        refresh_margin: float = 300.0,
    ) -> None:
        self._ak = access_key
        self._sk = secret_key
        self._clock = clock
        self._margin = refresh_margin
        self._token: str | None = None
        self._exp: float = 0.0
        self.issued = 0  # how many tokens were signed (tests and diagnostics)

    def token(self) -> str:
        now = self._clock()
        if self._token is None or now >= self._exp - self._margin:
            exp = int(now) + self.LIFETIME
            claims = {"iss": self._ak, "exp": exp, "nbf": int(now) - self.NOT_BEFORE_SKEW}
            self._token = jwt.encode(
                claims, self._sk, algorithm="HS256", headers={"alg": "HS256", "typ": "JWT"}
            )
            self._exp = float(exp)
            self.issued += 1
        return self._token

    def header(self) -> str:
        return f"Bearer {self.token()}"

    def refresh(self) -> bool:
        self._token = None
        return True

    def __repr__(self) -> str:
        return "JwtAuth(***)"


def auth_for(credential: KlingCredential, *, clock: Clock = time.time) -> Auth:
    """The credential's type picks the scheme (and so the API standard)."""
    if credential.kind == "api_key" and credential.api_key:
        return ApiKeyAuth(credential.api_key)
    if credential.kind == "access_key" and credential.access_key and credential.secret_key:
        return JwtAuth(credential.access_key, credential.secret_key, clock=clock)
    raise ProviderError(
        ErrorKind.AUTH,
        "No Kling credential is configured",
        hint="run `kling-bridge login`, or set KLING_API_KEY "
        "(or KLING_ACCESS_KEY + KLING_SECRET_KEY)",
    )
