"""The front door: token, Host allow-list, Origin refusal, JSON-only writes, size cap."""

from __future__ import annotations

import pytest

from .conftest import Api

pytestmark = pytest.mark.asyncio


async def test_no_token_is_401_and_wrong_token_too(api: Api) -> None:
    r = await api.client.get("/v1/health", headers={"Host": api.host})
    assert r.status == 401
    assert (await r.json())["error"]["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = await api.client.get(
        "/v1/health", headers={"Host": api.host, "Authorization": f"Bearer {api.token}x"}
    )
    assert r.status == 401
    r = await api.client.get("/v1/health", headers={"Host": api.host, "Authorization": api.token})
    assert r.status == 401


async def test_foreign_host_is_refused_before_auth(api: Api) -> None:
    for host in (
        "evil.example",
        f"evil.example:{api.services.port}",
        "127.0.0.1.nip.io",
        "192.168.1.5",
        "",
    ):
        r = await api.get("/v1/health", headers={"Host": host})
        assert r.status == 421, host
        assert (await r.json())["error"]["code"] == "host_not_allowed"
    for host in (f"localhost:{api.services.port}", f"127.0.0.1:{api.services.port}", "localhost"):
        r = await api.get("/v1/health", headers={"Host": host})
        assert r.status == 200, host


async def test_any_origin_is_refused_and_no_cors(api: Api) -> None:
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{api.services.port}"):
        r = await api.post("/v1/generate", {"prompt": "x"}, headers={"Origin": origin})
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "origin_refused"
        assert not any(k.lower().startswith("access-control") for k in r.headers)
    r = await api.client.options(
        "/v1/generate",
        headers={
            "Host": api.host,
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert r.status == 403


async def test_token_in_query_string_is_refused(api: Api) -> None:
    r = await api.client.get(f"/v1/health?token={api.token}", headers={"Host": api.host})
    assert r.status == 400 and (await r.json())["error"]["code"] == "token_in_url"


async def test_writes_need_json(api: Api) -> None:
    r = await api.client.post(
        "/v1/generate",
        data="prompt=x",
        headers={**api.headers(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status == 415
    r = await api.client.post(
        "/v1/generate",
        data="{not json",
        headers={**api.headers(), "Content-Type": "application/json"},
    )
    assert r.status == 400 and (await r.json())["error"]["code"] == "bad_json"


async def test_body_size_is_capped(api: Api) -> None:
    api.client.app._client_max_size = 1024
    r = await api.post("/v1/generate", {"prompt": "x" * 2000})
    assert r.status == 413 and (await r.json())["error"]["code"] == "too_large"


async def test_openapi_is_public_but_nothing_else(api: Api) -> None:
    r = await api.client.get("/v1/openapi.json", headers={"Host": api.host})
    assert r.status == 200
    for path in ("/v1/jobs", "/v1/presets", "/v1/events"):
        r = await api.client.get(path, headers={"Host": api.host})
        assert r.status == 401, path
