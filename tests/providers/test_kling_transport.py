"""The Kling client's transport seam: an injected connector carries every request, so the
provider can be driven against the emulator's application with no port and no listening
socket (httpx's transport idea, in aiohttp terms)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.kling_emulator import Account, KlingEmulator
from tests.kling_emulator.inprocess import AppConnector
from tests.providers.kling_helpers import probe, run

from kling_bridge.config import KlingSettings
from kling_bridge.credentials import KlingCredential
from kling_bridge.providers.base import (
    ErrorKind,
    Operation,
    ProviderError,
    TaskPhase,
    TaskRequest,
)
from kling_bridge.providers.kling import KlingClient, KlingProvider
from kling_bridge.providers.kling.auth import auth_for


async def test_a_generation_end_to_end_through_an_injected_connector(tmp_path: Path) -> None:
    account = Account()
    emu = await KlingEmulator([account], submitted_seconds=0.05, processing_seconds=0.1,
                              output_height=120).start(in_process=True)
    credential = KlingCredential(api_key=account.api_key, source="test")
    connectors: list[AppConnector] = []

    def connector() -> AppConnector:
        connectors.append(AppConnector(emu.servers))
        return connectors[-1]

    client = KlingClient(emu.base_url, auth_for(credential), connector=connector)
    provider = KlingProvider(credential, settings=KlingSettings(api_base=emu.base_url),
                             scratch_dir=tmp_path / "scratch", client=client)
    try:
        request = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", prompt="rain", duration=3)
        status, files = await run(provider, request, "seam-1", tmp_path)
        assert status.phase is TaskPhase.SUCCEEDED and len(files) == 1
        assert probe(files[0])["height"] == 120  # the emulator's render, downloaded
        # one create, and the download came through the (no-auth) CDN session too
        assert emu.stats.tasks_created["seam-1"] == 1 and emu.stats.downloads == 1
        assert emu.stats.auth_on_results == 0
        assert len(connectors) == 2 and all(c.opened for c in connectors)  # API + downloads
    finally:
        await client.aclose()
        await emu.stop()


async def test_a_host_the_connector_does_not_serve_is_a_connection_error(
    tmp_path: Path,
) -> None:
    """Nothing leaks to the network: an unknown host fails like a refused connection
    (reported as "not created", so the engine may send again safely)."""
    credential = KlingCredential(api_key="k" * 32, source="test")
    client = KlingClient("http://kling.invalid", auth_for(credential),
                         connector=lambda: AppConnector({}))
    provider = KlingProvider(credential, settings=KlingSettings(api_base="http://kling.invalid"),
                             scratch_dir=tmp_path / "scratch", client=client)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.submit(
                TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", prompt="rain", duration=3),
                "seam-2")
        assert caught.value.kind is ErrorKind.CONNECTION
    finally:
        await client.aclose()
