from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kling_bridge.api.app import Services, create_app
from kling_bridge.api.security import new_token
from kling_bridge.config import Paths
from kling_bridge.credentials import KlingCredential, describe
from kling_bridge.jobs.engine import Engine
from kling_bridge.jobs.store import JobStore
from tests.fakes.pipeline import PassthroughPipeline
from tests.fakes.provider import FakeProvider
from tests.jobs.conftest import fast_settings

PRESETS = [
    {"id": "film-noir", "name": "Film noir", "category": "style", "description": "B&W, hard light"},
    {"id": "anime", "name": "Anime", "category": "style", "description": "cel shading"},
]


class Api:
    def __init__(self, client: TestClient[web.Request, web.Application], services: Services,
                 provider: FakeProvider) -> None:
        self.client = client
        self.services = services
        self.provider = provider
        self.token = services.token
        self.host = f"127.0.0.1:{services.port}"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Host": self.host, **extra}

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.client.get(path, headers=self.headers(**kw.pop("headers", {})), **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return await self.client.post(
            path, json=body, headers=self.headers(**kw.pop("headers", {})), **kw
        )


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    paths = Paths.resolve().ensure()
    settings = fast_settings()
    settings.provider = "fake"  # type: ignore[assignment]
    provider = FakeProvider(tmp_path / "provider")
    engine = Engine(
        store=JobStore(paths.database),
        providers={"fake": provider},
        pipeline=PassthroughPipeline(),
        settings=settings,
        paths=paths,
        poll_intervals={"fake": (0.01, 0.05)},
    )
    services = Services(
        engine=engine,
        settings=settings,
        paths=paths,
        token=new_token(),
        credentials=describe(KlingCredential()),
        presets=lambda: PRESETS,
    )
    server = TestServer(create_app(services), host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    services.port = server.port or 0
    try:
        yield Api(client, services, provider)
    finally:
        await client.close()
        engine.store.close()
