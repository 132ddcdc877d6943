"""Fixtures for the Kling provider tests: small real media, the emulator, a media host."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.kling_emulator import Account, KlingEmulator
from tests.shared_files import make_once, shared_folder

from kling_bridge.config import KlingSettings
from kling_bridge.credentials import KlingCredential
from kling_bridge.hosting import SignedLinkHost
from kling_bridge.media.synth import make_clip
from kling_bridge.providers.kling import KlingProvider

ACCOUNT = Account()


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-v", "error", *args], check=True)


@dataclass(frozen=True)
class Media:
    clip: Path  # 1280x720, 25 fps, 4 s, with sound: an editor's clip within Kling's limits
    clip_small: Path  # 640x360: below Kling's 700 px minimum
    still: Path  # 1024x576 PNG
    dialogue: Path  # 5 s WAV


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    d = shared_folder(tmp_path_factory, "kling-media")
    made = Media(d / "shot 01 #take é.mp4", d / "small.mp4", d / "still.png", d / "line.wav")
    with make_once(d) as must:
        if must:
            _make_media(made)
    return made


def _make_media(made: Media) -> None:
    clip, small, still, dialogue = made.clip, made.clip_small, made.still, made.dialogue
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=4",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=4:sample_rate=48000",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-shortest", str(clip))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=4",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(small))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1024x576", "-frames:v", "1", str(still))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=220:duration=5:sample_rate=48000", str(dialogue))


@dataclass(frozen=True)
class Sources:
    """Editors' clips for restyles through Kling, each outside Kling's limits in one way.

    Each burns its frame number into a barcode along the top (``media.synth``), so a test
    reads which source frame every conformed frame shows.
    """

    small25: Path  # 640x360 at 25 fps, 100 frames: below Kling's 700 px minimum side
    scope2997: Path  # 640x268 (2.39:1 scope) at 29.97 fps, 130 frames: too wide, too small
    long25: Path  # 640x360 at 25 fps, 400 frames (16 s): longer than 15.5 s
    film23976: Path  # 640x360 at 23.976 fps, 96 frames: just under Kling's 24 fps floor


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    d = shared_folder(tmp_path_factory, "kling-sources")
    made = Sources(d / "A001 small.mp4", d / "B002 scope.mov", d / "C003 long.mp4",
                   d / "D004 film.mov")
    with make_once(d) as must:
        if must:
            common: dict[str, Any] = {"pattern": "plain", "barcode": True, "crf": 30}
            make_clip(made.small25, width=640, height=360, rate="25", frames=100, **common)
            make_clip(made.scope2997, width=640, height=268, rate="30000/1001", frames=130,
                      timecode="01:00:00;00", **common)
            make_clip(made.long25, width=640, height=360, rate="25", frames=400, **common)
            make_clip(made.film23976, width=640, height=360, rate="24000/1001", frames=96,
                      timecode="01:00:00:00", **common)
    return made


@pytest.fixture
async def emulator() -> AsyncIterator[KlingEmulator]:
    emu = KlingEmulator([Account()], submitted_seconds=0.05, processing_seconds=0.15,
                        output_height=120)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def signed_host(tmp_path: Path) -> AsyncIterator[SignedLinkHost]:
    host = SignedLinkHost(tmp_path / "hosted", tmp_path / "link.key", listen_port=0)
    await host.start()
    yield host
    await host.aclose()


CREDENTIALS = {
    "new": KlingCredential(api_key=ACCOUNT.api_key, source="test"),
    "legacy": KlingCredential(access_key=ACCOUNT.access_key, secret_key=ACCOUNT.secret_key,
                              source="test"),
}

MakeProvider = Callable[..., KlingProvider]


@pytest.fixture
async def make_provider(
    emulator: KlingEmulator, signed_host: SignedLinkHost, tmp_path: Path
) -> AsyncIterator[MakeProvider]:
    made: list[KlingProvider] = []

    def make(standard: str = "new", **settings: object) -> KlingProvider:
        kling = KlingSettings(api_base=emulator.base_url, **settings)
        provider = KlingProvider(CREDENTIALS[standard], settings=kling, host=signed_host,
                                 scratch_dir=tmp_path / "scratch")
        provider.client._resume_backoff = 0.01
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.client.aclose()
