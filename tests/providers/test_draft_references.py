"""Draft stand-ins for Kling's omni references: a clip's look to follow, a shot to continue,
character stills -- rendered for real, and checked from their pixels."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.providers.test_draft import run_task
from tests.shared_files import make_once, shared_folder

from kling_bridge.media.probe import probe
from kling_bridge.providers.base import (
    AudioMode,
    ErrorKind,
    Operation,
    ProviderError,
    Resolution,
    TaskRequest,
)
from kling_bridge.providers.draft import DraftProvider
from kling_bridge.providers.request_json import request_from_dict, request_to_dict


def solid(path: Path, colour: str, width: int = 400, height: int = 400) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    f"color=c={colour}:s={width}x{height}", "-frames:v", "1", str(path)],
                   check=True)
    return path


def pixel(path: Path, x: float, y: float, frame: int = 0) -> tuple[int, int, int]:
    """The RGB of the pixel at (x, y) -- fractions of the width and height -- of ``frame``."""
    info = probe(path)
    assert info.video is not None
    w, h = info.video.width, info.video.height
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf",
         f"select=eq(n\\,{frame}),format=rgb24,crop=1:1:{int(x * w)}:{int(y * h)}",
         "-frames:v", "1", "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    return raw[0], raw[1], raw[2]


def pixels(path: Path, *points: tuple[float, float], frame: int = 0
           ) -> list[tuple[int, int, int]]:
    """:func:`pixel` at several points of one frame, decoded by one ffmpeg run."""
    info = probe(path)
    assert info.video is not None
    w, h = info.video.width, info.video.height
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf",
         f"select=eq(n\\,{frame}),format=rgb24", "-frames:v", "1", "-f", "rawvideo", "-"],
        capture_output=True, check=True).stdout
    assert len(raw) == w * h * 3
    at = [3 * (int(y * h) * w + int(x * w)) for x, y in points]
    return [(raw[i], raw[i + 1], raw[i + 2]) for i in at]


@pytest.fixture(scope="session")
def refs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Read-only references, made once per run (every xdist worker reads the same files)."""
    d = shared_folder(tmp_path_factory, "draft-refs")
    made = {"halves": d / "restyled.mp4", "ada": d / "ada.png", "ada2": d / "ada-side.png"}
    with make_once(d) as must:
        if must:
            # A "restyled" clip: pure red on the left half, blue on the right, so a mirrored
            # copy (another angle in the same look) is told apart from the original by its
            # pixels.
            subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                            "color=c=red:s=480x270:r=25:d=3.2", "-f", "lavfi", "-i",
                            "color=c=blue:s=480x270:r=25:d=3.2", "-filter_complex",
                            "[0:v]crop=240:270:0:0[l];[1:v]crop=240:270:0:0[r];[l][r]hstack",
                            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                            str(made["halves"])], check=True)
            solid(made["ada"], "magenta")
            solid(made["ada2"], "0x00ff00")
    return made


def reddish(rgb: tuple[int, int, int]) -> bool:
    return rgb[0] > 150 and rgb[2] < 100


def bluish(rgb: tuple[int, int, int]) -> bool:
    return rgb[2] > 150 and rgb[0] < 100


async def test_more_like_this_draft_shows_the_references_look(refs: dict[str, Path],
                                                              tmp_path: Path) -> None:
    p = DraftProvider(encoder_preset="ultrafast")
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0-omni", "rooftops at dusk",
                      duration=3, resolution=Resolution.R720, aspect_ratio="16:9",
                      feature_video=refs["halves"], feature_seconds=3.2)
    out = await run_task(p, req, tmp_path / "like.mp4", "like-1")
    v = probe(out).video
    assert v is not None and (v.width, v.height) == (1280, 720) and v.frame_count == 72
    assert v.rate == 24
    # the reference's palette carries over, mirrored (another angle of the same scene)
    left, right = pixels(out, (0.2, 0.7), (0.8, 0.7))
    assert bluish(left) and reddish(right)
    assert "kling-bridge draft" in probe(out).tags.get("comment", "")


async def test_next_shot_draft_starts_from_the_references_last_frame(
        refs: dict[str, Path], tmp_path: Path) -> None:
    p = DraftProvider(encoder_preset="ultrafast")
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0-omni", "she turns away",
                      duration=3, resolution=Resolution.R720, feature_video=refs["halves"],
                      feature_mode="next_shot")
    out = await run_task(p, req, tmp_path / "next.mp4", "next-1")
    v = probe(out).video
    assert v is not None and v.frame_count == 72 and v.height == 720
    # not mirrored: it continues the shot as it ended
    left, right = pixels(out, (0.3, 0.8), (0.7, 0.8))
    assert reddish(left) and bluish(right)


async def test_character_stills_are_inset_and_named(refs: dict[str, Path],
                                                    tmp_path: Path) -> None:
    # 640x360 frames: the insets' layout is a share of the frame (pad = height / 60, exact
    # at 360 as at 720), so the same fractions find the same stills; a quarter the pixels.
    p = DraftProvider(encoder_preset="ultrafast", short_side=360)
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0-omni", "Ada walks in", duration=3,
                      resolution=Resolution.R720, refer_images=(refs["ada"],),
                      element_stills=(refs["ada2"],), elements=("el-77",),
                      labels=("Ada", "Ada"), audio_mode=AudioMode.NATIVE)
    # the references survive the task record a restarted draft provider renders from
    assert request_from_dict(request_to_dict(req)) == req
    out = await run_task(p, req, tmp_path / "ada.mp4", "ada-1")
    info = probe(out)
    assert info.audio is not None  # a character draft keeps the native sound asked for
    # the first still (magenta) inset at the right edge, the second (green) left of it
    first, second = pixels(out, (0.92, 0.35), (0.76, 0.35))
    assert first[0] > 180 and first[2] > 180 and first[1] < 90, first
    assert second[1] > 180 and second[0] < 90 and second[2] < 90, second


async def test_reference_rules_are_kling_s(refs: dict[str, Path]) -> None:
    p = DraftProvider(encoder_preset="ultrafast")
    loud = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0-omni", "x", duration=3,
                       feature_video=refs["halves"], audio_mode=AudioMode.NATIVE)
    with pytest.raises(ProviderError) as caught:
        p.validate(loud)
    assert caught.value.kind is ErrorKind.BAD_REQUEST and "silent" in caught.value.message
    gone = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0-omni", "x", duration=3,
                       refer_images=(refs["ada"].with_name("nobody.png"),))
    with pytest.raises(ProviderError, match="character still"):
        p.validate(gone)
