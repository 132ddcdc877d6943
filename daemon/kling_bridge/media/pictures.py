"""Stills made from clips: an exact frame, thumbnails, posters, before/after contact sheets.

Editors judge a restyle at a glance, so every restyle job leaves a PNG with the source's
frames above the result's at the same moments; generated clips leave a poster frame. The
exact-frame grab also feeds image-to-video "from a timeline frame": frame N means the N-th
decoded frame, as everywhere else in the bridge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..specs import rate_str
from .errors import RangeOutsideMedia
from .extract import seek_seconds
from .fonts import drawtext_font, escape_filter_value
from .probe import MediaInfo, probe, require_motion_video
from .run import atomic_output, ffmpeg_args, run


def _frame_source(info: MediaInfo, frame: int) -> tuple[list[str], str]:
    """Input args and a filter prefix that make ``frame`` the first frame decoded."""
    v = info.video
    assert v is not None
    if v.vfr:
        return (["-i", info.path],
                f"fps={rate_str(v.rate)},trim=start_frame={frame},setpts=PTS-STARTPTS")
    ss = seek_seconds(info, frame, v.rate)
    args = ["-ss", f"{ss:.6f}", "-i", info.path] if ss > 0 else ["-i", info.path]
    return args, "null"


def grab_frame(video: str | Path, frame: int, dest: str | Path) -> Path:
    """Frame ``frame`` of ``video`` as a PNG (``dest`` may be a folder). Stills pass through.

    The clip is never touched; the PNG is written to a temp name and renamed.
    """
    info = probe(video)
    v = info.video
    assert v is not None
    target = Path(dest)
    if target.is_dir():
        target = target / f"{Path(video).stem}.frame{frame}.png"
    if info.is_still:
        with atomic_output(target) as tmp:
            run(ffmpeg_args("-i", info.path, "-frames:v", "1", "-update", "1", str(tmp)),
                subject=video, what="converting the still")
        return target
    if not 0 <= frame < v.frame_count:
        raise RangeOutsideMedia(video, f"frame {frame} is outside the clip (0-{v.frame_count - 1})",
                                "pick a frame inside the clip")
    args, prefix = _frame_source(info, frame)
    with atomic_output(target) as tmp:
        run(ffmpeg_args(*args, "-map", "0:v:0", "-vf", prefix, "-frames:v", "1",
                        "-update", "1", str(tmp)), subject=video, what="grabbing a frame")
    return target


async def agrab_frame(video: str | Path, frame: int, dest: str | Path) -> Path:
    return await asyncio.to_thread(grab_frame, video, frame, dest)


def thumbnail(video: str | Path, dest: str | Path, *, width: int = 320,
              frame: int | None = None) -> Path:
    """A small JPEG/PNG of the clip's middle frame (or ``frame``) for bins and job lists."""
    info = probe(video)
    v = require_motion_video(info)
    n = v.frame_count // 2 if frame is None else min(max(0, frame), v.frame_count - 1)
    args, prefix = _frame_source(info, n)
    target = Path(dest)
    with atomic_output(target) as tmp:
        run(ffmpeg_args(*args, "-map", "0:v:0", "-vf", f"{prefix},scale={width}:-2",
                        "-frames:v", "1", "-update", "1", str(tmp)),
            subject=video, what="making a thumbnail")
    return target


def poster_frame(video: str | Path, dest: str | Path, *, max_width: int = 1920) -> Path:
    """A full-size still a third of the way in: past the fade-in, before anything ends."""
    info = probe(video)
    v = require_motion_video(info)
    n = v.frame_count // 3
    args, prefix = _frame_source(info, n)
    target = Path(dest)
    with atomic_output(target) as tmp:
        run(ffmpeg_args(*args, "-map", "0:v:0", "-vf",
                        f"{prefix},scale='min({max_width},iw)':-2", "-frames:v", "1",
                        "-update", "1", str(tmp)), subject=video, what="making a poster frame")
    return target


def sample_frames(count: int, columns: int) -> list[int]:
    """``columns`` frame offsets spread over ``count`` frames, first and last included."""
    if count <= 1 or columns <= 1:
        return [0]
    cols = min(columns, count)
    return [round(i * (count - 1) / (cols - 1)) for i in range(cols)]


def _row(label: str, offsets: Sequence[int], tile: tuple[int, int], font: str | None) -> str:
    pick = "+".join(f"eq(n\\,{o})" for o in offsets)
    w, h = tile
    chain = (f"select='{pick}',scale={w}:{h}:force_original_aspect_ratio=decrease,"
             f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=0x202020,setsar=1,"
             f"tile={len(offsets)}x1:padding=4:margin=4:color=0x202020")
    if font is not None:
        size = max(12, h // 8)
        chain += (f",drawtext={font}:text='{label}':fontsize={size}:fontcolor=white:"
                  f"box=1:boxcolor=black@0.6:boxborderw=4:x=10:y=10")
    return chain


def contact_sheet(before: str | Path, before_start: int, frame_count: int,
                  after: str | Path, dest: str | Path, *, columns: int = 4,
                  tile_width: int = 320) -> Path:
    """PNG: the source range's frames (top) over the result's frames (bottom), same moments.

    ``after`` must be the conformed result (frame k of it sits over source frame
    ``before_start + k``), which is what makes the columns comparable.
    """
    src = probe(before)
    v = require_motion_video(src)
    offsets = sample_frames(frame_count, columns)
    aspect = Fraction(v.display_width, v.display_height)
    tile_h = max(2, round(tile_width / aspect / 2) * 2)
    font = drawtext_font()
    args, prefix = _frame_source(src, before_start)
    graph = (f"[0:v]{prefix},trim=end_frame={frame_count},setpts=PTS-STARTPTS,"
             f"{_row('before', offsets, (tile_width, tile_h), font)}[top];"
             f"[1:v]{_row('after', offsets, (tile_width, tile_h), font)}[bottom];"
             "[top][bottom]vstack=inputs=2,format=rgb24[sheet]")
    target = Path(dest)
    with atomic_output(target) as tmp:
        run(ffmpeg_args(*args, "-i", str(after), "-filter_complex", graph, "-map", "[sheet]",
                        "-frames:v", "1", "-update", "1", str(tmp)),
            subject=after, what="making the before/after contact sheet")
    return target


async def acontact_sheet(before: str | Path, before_start: int, frame_count: int,
                         after: str | Path, dest: str | Path, *, columns: int = 4,
                         tile_width: int = 320) -> Path:
    return await asyncio.to_thread(contact_sheet, before, before_start, frame_count, after,
                                   dest, columns=columns, tile_width=tile_width)


async def athumbnail(video: str | Path, dest: str | Path, *, width: int = 320) -> Path:
    return await asyncio.to_thread(thumbnail, video, dest, width=width)


async def aposter_frame(video: str | Path, dest: str | Path) -> Path:
    return await asyncio.to_thread(poster_frame, video, dest)


def fit_image(src: str | Path, workdir: str | Path, *, frame: int | None = None,
              side_min: int = 300, aspect_min: float = 0.4, aspect_max: float = 2.5,
              max_bytes: int = 10 * 1024 * 1024) -> Path:
    """A reference picture the provider takes: PNG/JPEG, sides, aspect and bytes in limits.

    A video gives its frame ``frame`` (0 by default). A still that already fits is used as
    it is (nothing copied); otherwise a fitted copy goes into ``workdir`` -- upscaled to the
    minimum side, padded into the aspect window, JPEG when a PNG would be too big.
    """
    info = probe(src)
    v = info.video
    assert v is not None
    work = Path(workdir)
    stem = Path(src).stem
    if not info.is_still:
        src = grab_frame(src, frame or 0, work / f"{stem}.frame{frame or 0}.png")
        info = probe(src)
        v = info.video
        assert v is not None
    w, h = v.display_width, v.display_height
    aspect = w / h
    ok_format = Path(src).suffix.lower() in (".png", ".jpg", ".jpeg") and v.codec in (
        "png", "mjpeg")
    if (ok_format and min(w, h) >= side_min and aspect_min <= aspect <= aspect_max
            and info.size_bytes <= max_bytes):
        return Path(src)
    scale = max(1.0, side_min / min(w, h))
    sw, sh = round(w * scale / 2) * 2, round(h * scale / 2) * 2
    pw, ph = sw, sh
    if sw / sh > aspect_max:
        ph = int(sw / aspect_max) + 2
    elif sw / sh < aspect_min:
        pw = int(sh * aspect_min) + 2
    vf = f"scale={sw}:{sh},pad={pw}:{ph}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1"
    target = work / f"{stem}.fitted.png"
    with atomic_output(target) as tmp:
        run(ffmpeg_args("-i", str(src), "-vf", vf, "-frames:v", "1", "-update", "1", str(tmp)),
            subject=src, what="fitting the reference image")
    if target.stat().st_size > max_bytes:
        jpeg = work / f"{stem}.fitted.jpg"
        with atomic_output(jpeg) as tmp:
            run(ffmpeg_args("-i", str(target), "-q:v", "3", "-frames:v", "1", "-update", "1",
                            str(tmp)), subject=src, what="compressing the reference image")
        target.unlink(missing_ok=True)
        return jpeg
    return target


# --------------------------------------------------------------------------- comparisons


#: Each column of a comparison picture carries its number as this many cells along the top
#: of its header (white = 1, least significant bit left), so software -- and a test reading
#: the picture back -- can tell which look each column holds without reading words.
CODE_BITS = 6
_MARGIN = 4  # ffmpeg's tile margin and padding, as in the contact sheets


@dataclass(frozen=True)
class CompareColumn:
    """One column: ``video`` (None: the look failed, a dark column), the frame of it that
    lines up with the range's first frame, the header's lines, and its number."""

    video: Path | None
    first_frame: int
    lines: tuple[str, ...]
    number: int


def header_layout(tile_width: int) -> tuple[int, int, int]:
    """``(font size, line height, header height)`` of a comparison column's header."""
    # a job id line ("job " + 24 characters) fits the column
    size = max(9, min(tile_width // 18, int(tile_width / (0.6 * 30))))
    line = size + size // 2
    return size, line, code_cell(tile_width)[1] + 3 * line + 2 * _MARGIN


def code_cell(tile_width: int) -> tuple[int, int]:
    """``(width, height)`` of one code cell."""
    return max(2, tile_width // CODE_BITS), max(6, tile_width // 40)


def code_cells(tile_width: int) -> list[tuple[int, int, int, int]]:
    """Where bit ``b`` of a column's number is drawn: ``(x, y, w, h)`` within the column."""
    w, h = code_cell(tile_width)
    return [(_MARGIN + b * w, _MARGIN // 2, w - 2, h) for b in range(CODE_BITS)]


def _column_graph(index: int, column: CompareColumn, prefix: str, count: int,
                  offsets: Sequence[int], tile: tuple[int, int], textfile: Path,
                  font: str | None) -> str:
    w, h = tile
    rows = len(offsets)
    size, line, header = header_layout(w)
    if column.video is None:
        chain = f"[{index}:v]setsar=1"  # a colour source of ``rows`` frames, one per tile
    else:
        pick = "+".join(f"eq(n\\,{o})" for o in offsets)
        chain = (f"[{index}:v]{prefix},trim=end_frame={count},setpts=PTS-STARTPTS,"
                 f"select='{pick}',scale={w}:{h}:force_original_aspect_ratio=decrease,"
                 f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=0x202020,setsar=1")
    chain += (f",tile=1x{rows}:padding={_MARGIN}:margin={_MARGIN}:color=0x202020,"
              f"pad=iw:ih+{header}:0:{header}:color=0x202020")
    for bit, (x, y, cw, ch) in enumerate(code_cells(w)):
        if column.number >> bit & 1:
            chain += f",drawbox=x={x}:y={y}:w={cw}:h={ch}:color=white:t=fill"
    if font is not None:
        tf = escape_filter_value(str(textfile))
        top = code_cell(w)[1] + _MARGIN
        chain += (f",drawtext={font}:textfile={tf}:expansion=none:fontsize={size}:"
                  f"fontcolor=white:line_spacing={line - size}:x={_MARGIN * 2}:y={top}")
    return chain + f"[c{index}]"


def comparison_sheet(columns: Sequence[CompareColumn], count: int, dest: str | Path, *,
                     frames: int = 4, tile_width: int = 320) -> tuple[Path, list[int]]:
    """PNG: one column per look, side by side -- the same ``frames`` moments of each, top to
    bottom -- under a header naming the look, its price and its job (and its number as a
    code). ``count`` is the length of the range every column shows (a restyle is conformed
    to its source's frames, so frame k of each result is the same moment). Answers the
    picture and the frame offsets shown."""
    shown = [c for c in columns if c.video is not None]
    if not shown:
        raise RangeOutsideMedia(str(dest), "no look finished: nothing to compare",
                                "wait for the looks to finish, or retry the failed ones")
    first = probe(shown[0].video)  # type: ignore[arg-type]
    v = require_motion_video(first)
    aspect = Fraction(v.display_width, v.display_height)
    tile = (tile_width, max(2, round(tile_width / aspect / 2) * 2))
    offsets = sample_frames(count, frames)
    font = drawtext_font()
    target = Path(dest)
    args: list[str] = []
    graphs: list[str] = []
    texts: list[Path] = []
    try:
        for n, column in enumerate(columns):
            textfile = target.with_name(f".{target.stem}.col{n}.txt")
            textfile.write_text("\n".join(column.lines[:3]), encoding="utf-8")
            texts.append(textfile)
            prefix = "null"
            if column.video is None:
                args += ["-f", "lavfi", "-i", f"color=c=0x101010:s={tile[0]}x{tile[1]}:r=1:"
                         f"d={len(offsets)}"]
            else:
                info = probe(column.video)
                more, prefix = _frame_source(info, column.first_frame)
                args += more
            graphs.append(_column_graph(n, column, prefix, count, offsets, tile, textfile,
                                        font))
        joined = "".join(f"[c{n}]" for n in range(len(columns)))
        stack = (f"{joined}hstack=inputs={len(columns)},format=rgb24[sheet]"
                 if len(columns) > 1 else "[c0]format=rgb24[sheet]")
        with atomic_output(target) as tmp:
            run(ffmpeg_args(*args, "-filter_complex", ";".join([*graphs, stack]), "-map",
                            "[sheet]", "-frames:v", "1", "-update", "1", str(tmp)),
                subject=dest, what="making the comparison picture")
    finally:
        for textfile in texts:
            textfile.unlink(missing_ok=True)
    return target, offsets


async def acomparison_sheet(columns: Sequence[CompareColumn], count: int, dest: str | Path,
                            *, frames: int = 4, tile_width: int = 320
                            ) -> tuple[Path, list[int]]:
    return await asyncio.to_thread(comparison_sheet, columns, count, dest, frames=frames,
                                   tile_width=tile_width)
