"""The daemon's app over the draft provider and the real media pipeline, for chains run for
real (ffmpeg at small sizes), and small editors' clips."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kling_bridge.api.app import Services, create_app
from kling_bridge.api.security import new_token
from kling_bridge.config import Paths
from kling_bridge.credentials import describe
from kling_bridge.hosting import SignedLinkHost
from kling_bridge.media.presets import load_presets
from kling_bridge.media.synth import make_clip
from tests.api.conftest import Api
from tests.chains.small import draft_services
from tests.kling_emulator import Account, KlingEmulator
from tests.providers.conftest import CREDENTIALS
from tests.providers.kling_engine import build_engine


@pytest.fixture(scope="session")
def editors_clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two different 320x180 clips at 25 fps (3.2 s), colourful, with sound, frame numbers
    burnt in (small: every look's filters run on them, five looks in one test)."""
    d = tmp_path_factory.mktemp("chain-clips")
    return [make_clip(d / f"A00{n}.mov", width=320, height=180, rate="25", frames=80,
                      barcode=True, crf=30, pattern=pattern, tone_hz=hz)
            for n, pattern, hz in ((1, "testsrc2", 440), (2, "testsrc", 660))]


@pytest.fixture
async def draft_api(tmp_path: Path) -> AsyncIterator[Api]:
    services = draft_services(Paths.resolve().ensure())
    engine, provider = services.engine, services.engine.providers["draft"]
    server = TestServer(create_app(services), host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    services.port = server.port or 0
    try:
        yield Api(client, services, provider)  # type: ignore[arg-type]
    finally:
        await client.close()
        await provider.aclose()
        engine.store.close()


async def wait_batch(api: Api, batch_id: str, timeout: float = 400) -> dict[str, Any]:
    """Until the batch ends (drafts render with ffmpeg: on a loaded 2-core CI machine five
    looks took over two minutes; a wait ends as soon as the batch does)."""
    deadline = asyncio.get_running_loop().time() + timeout
    body: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        body = await (await api.get(f"/v1/batches/{batch_id}")).json()
        if body["state"] != "running":
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"batch {batch_id} still running: {body}")


def video_of(job: dict[str, Any]) -> Path:
    return Path(next(o["path"] for o in job["result"]["outputs"] if o["role"] == "video"))


@pytest.fixture
async def emulator() -> AsyncIterator[KlingEmulator]:
    emu = KlingEmulator([Account()], submitted_seconds=0.05, processing_seconds=0.15,
                        output_height=120)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def kling_api(emulator: KlingEmulator, tmp_path: Path) -> AsyncIterator[Api]:
    """The daemon's app over the real KlingProvider (new standard), talking to the emulator,
    media published by signed links; the real media pipeline."""
    paths = Paths.resolve().ensure()
    host = SignedLinkHost(tmp_path / "hosted", tmp_path / "link.key", listen_port=0)
    await host.start()
    engine, provider = build_engine(emulator.base_url, CREDENTIALS["new"], host,
                                    tmp_path / "scratch")
    provider.client._resume_backoff = 0.01
    services = Services(engine=engine, settings=engine.settings, paths=paths,
                        token=new_token(), credentials=describe(CREDENTIALS["new"]),
                        presets=lambda: load_presets(paths.presets_dir).menu())
    server = TestServer(create_app(services), host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    services.port = server.port or 0
    try:
        yield Api(client, services, provider)  # type: ignore[arg-type]
    finally:
        await client.close()
        await provider.aclose()
        engine.store.close()
