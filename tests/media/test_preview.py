"""The flattened timeline preview: placement, top track wins, gaps black, rates conformed."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from kling_bridge.media.preview import PreviewItem, render_preview
from kling_bridge.media.probe import probe
from kling_bridge.media.synth import read_barcodes

MakeClip = Callable[..., Path]


def luma(path: Path) -> list[int]:
    """Mean brightness of every frame (0-255)."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf",
                          "scale=1:1:flags=area,format=gray", "-f", "rawvideo", "-"],
                         capture_output=True, check=True).stdout
    return list(raw)


def test_preview_flattens_tracks_at_the_timeline_rate(clip: MakeClip, tmp_path: Path) -> None:
    a = clip("a.mp4", width=320, height=180, rate="25", frames=100, barcode=True,
             pattern="plain")
    b = clip("b 24fps.mp4", width=640, height=360, rate="24", frames=100, barcode=True,
             pattern="plain", tone_hz=880)
    top = clip("top.mp4", width=320, height=180, rate="25", frames=100, barcode=True,
               pattern="plain", audio=False)
    items = [
        PreviewItem(str(a), 0, 20, track=0, source_start=10),
        PreviewItem(str(b), 20, 25, track=0, source_start=50),  # other rate, other size
        PreviewItem(str(a), 60, 20, track=0, source_start=70),
        PreviewItem(str(top), 10, 20, track=1, source_start=5),  # covers the cut at 20
    ]
    out = render_preview(items, tmp_path / "preview.mp4", rate="25", width=320, height=180,
                         total_frames=90, preset="ultrafast")
    info = probe(out)
    assert info.video is not None and info.video.frame_count == 90 and info.video.rate == 25
    assert (info.video.width, info.video.height) == (320, 180)
    assert info.audio is not None and info.audio.duration is not None
    assert abs(info.audio.duration - 3.6) < 0.03
    codes = read_barcodes(out)
    assert codes[:10] == list(range(10, 20))  # clip a from its frame 10
    assert codes[10:30] == list(range(5, 25))  # the top track wins over both clips under it
    # clip b at 24 fps under a 25 fps timeline: source time is kept, frames repeat
    assert all(abs(c - (50 + round((k + 10) * 24 / 25))) <= 1 for k, c in
               enumerate(codes[30:45]))
    assert codes[60:80] == list(range(70, 90))
    brightness = luma(out)
    assert max(brightness[45:60]) < 20 and max(brightness[80:]) < 20  # gaps are black
    assert min(brightness[:45]) > 30
