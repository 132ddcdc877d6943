"""The comparison picture of one clip in N looks, read back from its pixels: every look
present, in order (each column's number is drawn as a code in its header), labelled, and
showing the same frames of each look."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from kling_bridge.media.fonts import font_file
from kling_bridge.media.pictures import (
    CODE_BITS,
    CompareColumn,
    code_cells,
    comparison_sheet,
    header_layout,
)
from kling_bridge.media.probe import probe
from kling_bridge.media.synth import make_clip, read_barcodes

COLOURS = ["red", "0x00ff00", "blue", "yellow", "magenta"]


def rgb_of(sheet: Path) -> tuple[int, int, bytes]:
    info = probe(sheet)
    assert info.video is not None
    w, h = info.video.width, info.video.height
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(sheet), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    assert len(raw) == w * h * 3
    return w, h, raw


def at(raw: bytes, w: int, x: int, y: int) -> tuple[int, int, int]:
    i = (y * w + x) * 3
    return raw[i], raw[i + 1], raw[i + 2]


def decode(raw: bytes, w: int, column_x: int, tile_width: int) -> int:
    """A column's number, from the code cells along the top of its header."""
    value = 0
    for bit, (x, y, cw, ch) in enumerate(code_cells(tile_width)):
        if sum(at(raw, w, column_x + x + cw // 2, y + ch // 2)) > 600:
            value |= 1 << bit
    return value


def read_columns(sheet: Path, count: int, tile_width: int, tile_height: int
                 ) -> list[dict[str, Any]]:
    """What a person sees in each column: its number, whether its header has words, and
    the colour in the middle of each of its frames."""
    w, _h, raw = rgb_of(sheet)
    col_w = w // count
    assert col_w * count == w
    _, _, header = header_layout(tile_width)
    out = []
    for n in range(count):
        x0 = n * col_w
        label = [at(raw, w, x, y) for x in range(x0 + 8, x0 + col_w - 8, 2)
                 for y in range(header // 3, header - 4, 2)]
        out.append({"number": decode(raw, w, x0, tile_width),
                    "words": sum(1 for px in label if min(px) > 200),
                    # the middle of its second frame
                    "middle": at(raw, w, x0 + col_w // 2,
                                 header + 4 + tile_height + 4 + tile_height // 2)})
    return out


@pytest.fixture(scope="module")
def looks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    d = tmp_path_factory.mktemp("looks")
    source = make_clip(d / "source.mp4", width=320, height=180, rate="25", frames=60,
                       barcode=True, pattern="plain", audio=False)
    results = []
    for n, colour in enumerate(COLOURS):
        out = d / f"look{n}.mp4"
        # a "restyle" of frames 10-49 of the source: its barcodes kept, tinted all over
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-f", "lavfi", "-i",
                        f"color=c={colour}:s=320x180:r=25", "-filter_complex",
                        "[0:v]trim=start_frame=10:end_frame=50,setpts=PTS-STARTPTS[a];"
                        "[1:v]crop=320:162:0:0[t];[a][t]overlay=0:18:shortest=1",
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                        str(out)], check=True)
        results.append(out)
    return source, results


def test_five_looks_side_by_side_in_order_labelled(looks: tuple[Path, list[Path]],
                                                   tmp_path: Path) -> None:
    source, results = looks
    columns = [CompareColumn(source, 10, ("0 · source", "source.mp4", "frames 10-49"), 0)]
    columns += [CompareColumn(r, 0, (f"{n} · look-{n}", f"{n * 1.5:g} units (US$0.2)",
                                     f"job j{n:023x}"), n)
                for n, r in enumerate(results, start=1)]
    sheet, offsets = comparison_sheet(columns, 40, tmp_path / "compare.png", frames=4,
                                      tile_width=160)
    assert offsets == [0, 13, 26, 39]
    seen = read_columns(sheet, 6, 160, 90)
    assert [c["number"] for c in seen] == [0, 1, 2, 3, 4, 5]
    expected = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255)]
    for column, colour in zip(seen[1:], expected, strict=True):
        middle = column["middle"]
        assert isinstance(middle, tuple)
        assert all(abs(a - b) < 60 for a, b in zip(middle, colour, strict=True)), (middle,
                                                                                     colour)
    if font_file() is not None:
        assert all(int(str(c["words"])) > 20 for c in seen), seen
    assert 2 ** CODE_BITS > 20  # room for every look a request may ask for
    # the same moments of each: the source column's frames are 10, 23, 36, 49, and each
    # look's barcodes (kept above its tint) say the same source frames
    w, _h, _raw = rgb_of(sheet)
    _, _, header = header_layout(160)
    tile_h = 90
    crops = tmp_path / "crops"
    crops.mkdir()
    for n in (0, 3):
        x0 = n * (w // 6) + 4
        for row, offset in enumerate(offsets):
            y0 = header + 4 + row * (tile_h + 4)
            crop = crops / f"c{n}r{row}.png"
            subprocess.run(["ffmpeg", "-v", "error", "-i", str(sheet), "-vf",
                            f"crop=160:{tile_h}:{x0}:{y0}", str(crop)], check=True)
            assert read_barcodes(crop) == [10 + offset], (n, row)


def test_a_failed_look_is_a_dark_column_in_its_place(looks: tuple[Path, list[Path]],
                                                     tmp_path: Path) -> None:
    _, results = looks
    columns = [CompareColumn(results[0], 0, ("1 · a",), 1),
               CompareColumn(None, 0, ("2 · b", "failed: no picture"), 2),
               CompareColumn(results[2], 0, ("3 · c",), 3)]
    sheet, _ = comparison_sheet(columns, 40, tmp_path / "c.png", frames=2, tile_width=120)
    seen = read_columns(sheet, 3, 120, 68)
    assert [c["number"] for c in seen] == [1, 2, 3]
    assert max(seen[1]["middle"]) < 40
