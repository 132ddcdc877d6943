"""Generated media for the media tests, made once per session and shared (read-only).

Tests must never write into these files' folder: each test that produces output uses its
own ``tmp_path``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kling_bridge.media.synth import SynthSpec, make_clip

MakeClip = Callable[..., Path]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip(media_dir: Path) -> MakeClip:
    """``clip(name="x.mp4", **SynthSpec fields)`` -> a cached generated clip."""

    def make(name: str = "clip.mp4", **fields: object) -> Path:
        key = hashlib.sha1(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
        folder = media_dir / key[:12]
        dest = folder / name
        if not dest.exists():
            folder.mkdir(parents=True, exist_ok=True)
            make_clip(dest, SynthSpec(**fields))  # type: ignore[arg-type]
        return dest

    return make
