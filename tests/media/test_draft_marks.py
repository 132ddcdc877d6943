"""Drafts are visibly drafts (issue 10): a small "DRAFT" mark burnt into every draft clip --
restyles, image-to-video, lip-sync and slates -- and ``draft`` in their file names.

The mark is found in the decoded pictures: yellow (0xffcc00) pixels in the bottom-right
corner of frames whose source has none there, and nowhere else in the frame.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.media.test_media_pipeline import context, fast_pipeline, run_tasks

from kling_bridge.jobs.media_pipeline import MediaPipeline
from kling_bridge.media.synth import make_still, make_tone, read_barcodes
from kling_bridge.providers.draft import DraftProvider
from kling_bridge.specs import (
    ConformTarget,
    GenerateSpec,
    JobSpec,
    LipsyncSpec,
    Look,
    RestyleSpec,
    SourceRange,
)

MakeClip = Callable[..., Path]
W, H = 320, 180  # frames are read at this size (nearest neighbour: pure colours)


def _yellow(path: Path, frame: int) -> tuple[float, float]:
    """Share of yellow pixels in the bottom-right corner, and in the rest of the frame."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf",
         f"select=eq(n\\,{frame}),scale={W}:{H}:flags=neighbor,format=rgb24", "-frames:v", "1",
         "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    assert len(raw) == W * H * 3
    corner = rest = corner_n = rest_n = 0
    for y in range(H):
        for x in range(W):
            r, g, b = raw[(y * W + x) * 3:(y * W + x) * 3 + 3]
            yellow = r > 200 and g > 175 and b < 100  # 0xffcc00, not orange
            if x >= W * 0.6 and y >= H * 0.75:
                corner_n += 1
                corner += yellow
            else:
                rest_n += 1
                rest += yellow
    return corner / corner_n, rest / rest_n


def _marked(path: Path, frame: int = 3) -> bool:
    corner, rest = _yellow(path, frame)
    return corner > 0.002 and rest < 0.0005


async def _run(tmp: Path, kind: str, spec: JobSpec) -> Path:
    provider = DraftProvider(encoder_preset="ultrafast")
    pipeline: MediaPipeline = fast_pipeline()
    ctx = context(tmp, kind, spec, provider)
    requests = list(await pipeline.prepare(ctx))
    result = await pipeline.finish(ctx, await run_tasks(ctx, requests))
    await provider.aclose()
    video = result.video()
    assert video is not None and video.draft
    return Path(video.path)


async def test_a_draft_restyle_is_marked_and_named_draft(clip: MakeClip, tmp_path: Path) -> None:
    # 2.39:1 scope: the fit letterboxes it for the provider; the mark survives the crop-back.
    src = clip("A003 scope.mov", width=480, height=200, rate="25", frames=40, barcode=True,
               pattern="plain")
    assert not _marked(src)
    out = await _run(tmp_path, "restyle", RestyleSpec(
        SourceRange(str(src), 0, 40, "25"), Look("remix-cobalt"), resolution="720p"))
    assert ".draft." in out.name and out.name.startswith("A003 scope.remix-cobalt.v1.f0-39.")
    assert _marked(out) and _marked(out, 35)
    codes = read_barcodes(out)  # the mark leaves the picture's frames where they were
    assert max(abs(c - k) for k, c in enumerate(codes)) <= 1


@pytest.mark.parametrize("kind", ["image-to-video", "text-to-video", "lip-sync"])
async def test_generated_drafts_are_marked(kind: str, tmp_path: Path) -> None:
    still = make_still(tmp_path / "grey.png", 640, 360, pattern="plain")
    spec: JobSpec
    if kind == "image-to-video":
        spec = GenerateSpec(prompt="push in", image=str(still), duration=3, resolution="720p",
                            conform=ConformTarget("25", 640, 360))
        job_kind = "generate"
    elif kind == "text-to-video":
        spec = GenerateSpec(prompt="rain on a tin roof", duration=3, resolution="720p")
        job_kind = "generate"
    else:
        spec = LipsyncSpec(audio=str(make_tone(tmp_path / "line.wav", 3.0)), image=str(still),
                           resolution="720p")
        job_kind = "lipsync"
    out = await _run(tmp_path, job_kind, spec)
    assert ".draft." in out.name
    corner, _ = _yellow(out, 10)
    assert corner > 0.002, kind
