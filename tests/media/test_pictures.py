"""Stills from clips: exact frames, thumbnails, posters, contact sheets, fitted references."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kling_bridge.media.errors import RangeOutsideMedia
from kling_bridge.media.pictures import (
    contact_sheet,
    fit_image,
    grab_frame,
    poster_frame,
    sample_frames,
    thumbnail,
)
from kling_bridge.media.probe import probe
from kling_bridge.media.synth import make_still, read_barcodes

MakeClip = Callable[..., Path]


def size(path: Path) -> tuple[int, int]:
    v = probe(path).video
    assert v is not None
    return v.width, v.height


@pytest.mark.parametrize("frame", [0, 1, 37, 99])
def test_grab_frame_is_exact_even_mid_gop(clip: MakeClip, tmp_path: Path, frame: int) -> None:
    src = clip("gop.mp4", width=320, height=180, rate="30000/1001", frames=100, barcode=True,
               pattern="plain", gop=60, audio=False)
    out = grab_frame(src, frame, tmp_path)
    assert out.parent == tmp_path and out.suffix == ".png"
    assert read_barcodes(out) == [frame]
    assert size(out) == (320, 180)


def test_grab_frame_of_a_variable_rate_clip(clip: MakeClip, tmp_path: Path) -> None:
    src = clip("vfr.mp4", width=320, height=180, rate="30", frames=40, vfr=True, barcode=True,
               pattern="plain", audio=False)
    # constant-rate frame 10 is the picture on screen at 10/30 s: source frame 9
    # (frame 10 was dropped by the phone)
    assert read_barcodes(grab_frame(src, 10, tmp_path / "f10.png")) == [9]
    assert read_barcodes(grab_frame(src, 11, tmp_path / "f11.png")) == [11]


def test_grab_frame_refuses_frames_past_the_end(clip: MakeClip, tmp_path: Path) -> None:
    src = clip("short.mp4", width=320, height=180, rate="25", frames=10, audio=False)
    with pytest.raises(RangeOutsideMedia) as caught:
        grab_frame(src, 10, tmp_path)
    assert str(src) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_thumbnail_and_poster(clip: MakeClip, tmp_path: Path) -> None:
    src = clip("t.mp4", width=640, height=360, rate="25", frames=30, audio=False)
    assert size(thumbnail(src, tmp_path / "t.jpg")) == (320, 180)
    assert size(poster_frame(src, tmp_path / "p.png")) == (640, 360)


def test_contact_sheet_puts_before_over_after(clip: MakeClip, tmp_path: Path) -> None:
    src = clip("s.mp4", width=640, height=360, rate="25", frames=60, audio=False)
    after = tmp_path / "after.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-ss", "0.4", "-i", str(src), "-frames:v", "30",
                    "-vf", "hue=s=0", str(after)], check=True)
    sheet = contact_sheet(src, 10, 30, after, tmp_path / "sheet.png", columns=4,
                          tile_width=160)
    w, h = size(sheet)
    assert w == 4 * 160 + 3 * 4 + 2 * 4 and h == 2 * (90 + 8)
    # the bottom row is the grey result, the top row is in colour
    rows = subprocess.run(["ffmpeg", "-v", "error", "-i", str(sheet), "-vf",
                           "scale=4:2,format=rgb24", "-f", "rawvideo", "-"],
                          capture_output=True, check=True).stdout
    top, bottom = rows[:12], rows[12:]
    spread = [max(px) - min(px) for px in (top[i:i + 3] for i in range(0, 12, 3))]
    grey = [max(px) - min(px) for px in (bottom[i:i + 3] for i in range(0, 12, 3))]
    assert max(spread) > 30 and max(grey) < 12


def test_sample_frames_spread() -> None:
    assert sample_frames(30, 4) == [0, 10, 19, 29]
    assert sample_frames(1, 4) == [0]
    assert sample_frames(2, 4) == [0, 1]


def test_fit_image_into_reference_limits(clip: MakeClip, tmp_path: Path) -> None:
    good = make_still(tmp_path / "good.png", 1280, 720)
    assert fit_image(good, tmp_path) == good  # already fine: used as is, not copied
    small = make_still(tmp_path / "small.png", 200, 100)
    w, h = size(fit_image(small, tmp_path))
    assert min(w, h) >= 300 and w / h == pytest.approx(2.0, abs=0.02)
    wide = make_still(tmp_path / "wide.png", 3000, 500)
    w, h = size(fit_image(wide, tmp_path))
    assert w / h <= 2.5 and min(w, h) >= 300
    webp = tmp_path / "ref.webp"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(good), str(webp)], check=True)
    converted = fit_image(webp, tmp_path)
    assert converted.suffix == ".png" and converted.parent == tmp_path
    video = clip("ref.mp4", width=640, height=360, rate="25", frames=10, barcode=True,
                 pattern="plain", audio=False)
    frame = fit_image(video, tmp_path, frame=7)
    assert read_barcodes(frame) == [7] and size(frame) == (640, 360)
