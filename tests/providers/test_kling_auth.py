"""JWT signing for access-key credentials: exact header and claims, reuse, refresh."""

from __future__ import annotations

import jwt
import pytest

from kling_bridge.credentials import KlingCredential
from kling_bridge.providers.base import ErrorKind, ProviderError
from kling_bridge.providers.kling.auth import ApiKeyAuth, JwtAuth, auth_for

SK = "SK-secret-long-enough-for-hmac-sha256-keys"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_jwt_has_the_documented_header_and_claims() -> None:
    clock = FakeClock(1_700_000_000.0)
    auth = JwtAuth("AK123", SK, clock=clock)
    token = auth.header().removeprefix("Bearer ")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    no_time: jwt.types.Options = {"verify_exp": False, "verify_nbf": False}
    claims = jwt.decode(token, SK, algorithms=["HS256"], options=no_time)
    assert claims == {"iss": "AK123", "exp": 1_700_001_800, "nbf": 1_699_999_995}


def test_token_is_reused_then_renewed_before_it_expires() -> None:
    clock = FakeClock(1_700_000_000.0)
    auth = JwtAuth("AK", "S" * 32, clock=clock, refresh_margin=300)
    first = auth.header()
    clock.now += 1000
    assert auth.header() == first and auth.issued == 1
    clock.now += 600  # 1600 s after signing: inside the 300 s margin before exp
    second = auth.header()
    assert second != first and auth.issued == 2
    exp = jwt.decode(second.split()[1], "S" * 32, algorithms=["HS256"],
                     options={"verify_exp": False, "verify_nbf": False})["exp"]
    assert exp == int(clock.now) + 1800


def test_refresh_forces_a_new_token_but_an_api_key_cannot_refresh() -> None:
    clock = FakeClock(1_700_000_000.0)
    auth = JwtAuth("AK", "S" * 32, clock=clock)
    auth.header()
    clock.now += 1
    assert auth.refresh() is True
    auth.header()
    assert auth.issued == 2
    key = ApiKeyAuth("key-1")
    assert key.refresh() is False and key.header() == "Bearer key-1"


def test_credential_type_picks_the_scheme_and_reprs_hide_secrets() -> None:
    a = auth_for(KlingCredential(api_key="key-secret-1"))
    b = auth_for(KlingCredential(access_key="AK", secret_key="sk-secret-2"))
    assert a.kind == "api_key" and b.kind == "access_key"
    assert "key-secret-1" not in repr(a) and "sk-secret-2" not in repr(b)
    with pytest.raises(ProviderError) as exc:
        auth_for(KlingCredential())
    assert exc.value.kind is ErrorKind.AUTH and "login" in exc.value.hint
