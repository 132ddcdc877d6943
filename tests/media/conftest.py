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


def simulate_kling_edit(segment: Path, dest: Path, *, short_side: int = 180,
                        extra_frames: int = 0) -> Path:
    """Kling O3's answer, as far as timing and geometry go: 24 fps, its own size, same length.

    ``extra_frames`` (positive or negative) mimics answers a frame longer or shorter than
    the input (Kling reports durations like "5.041").
    """
    import subprocess

    from kling_bridge.media.probe import probe

    info = probe(segment)
    assert info.video is not None
    frames = round(info.video.duration * 24) + extra_frames
    vf = f"fps=24,scale=-2:{short_side}" if info.video.width >= info.video.height else \
        f"fps=24,scale={short_side}:-2"
    vf += f",tpad=stop=4:stop_mode=clone,trim=end_frame={frames}"
    args = ["ffmpeg", "-v", "error", "-y", "-i", str(segment), "-vf", vf,
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28"]
    args += ["-c:a", "aac"] if info.audio else []
    subprocess.run([*args, str(dest)], check=True)
    return dest


@pytest.fixture(scope="session")
def kling_sim() -> Callable[..., Path]:
    return simulate_kling_edit
