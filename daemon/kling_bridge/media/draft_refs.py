"""Draft stand-ins for generations that follow references (Kling's omni ``feature_video``,
``refer_image`` and ``element`` inputs), rendered offline with ffmpeg.

What Kling does with a reference cannot be imitated by a filter graph, so the draft shows
what it was *given*, honestly and visibly:

- "more like this" (a clip's look to follow): the reference clip itself, mirrored and
  pushed in so it reads as another angle of the same scene, looped to the asked length --
  the look (a restyle's palette, grain, contrast) carries over because it *is* those pixels;
- "next shot" (a clip to continue): a slow move over the reference's last frame, where the
  next shot would start;
- characters (stills, element ids): each still inset in the top-right corner, named;

and a band across the top saying what this is (``DRAFT · next shot after …``) with the
words. Every draft keeps the DRAFT mark (:mod:`.marks`) and says so in its metadata.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

from .drafts import FPS, _encode
from .fonts import drawtext_font, escape_filter_value
from .marks import draft_mark_graph
from .run import ffmpeg_args

#: Insets take this share of the picture's height; at most this many are drawn.
INSET_SHARE = 4
MAX_INSETS = 6


def style_base_command(dest: Path, feature: Path, *, seconds: float, width: int, height: int,
                       comment: str, preset: str = "veryfast") -> list[str]:
    """The reference clip mirrored, pushed in 15 % and looped to ``seconds`` at 24 fps."""
    frames = round(seconds * FPS)
    big_w, big_h = _even(width * 1.15), _even(height * 1.15)
    vf = (f"fps={FPS},hflip,scale={big_w}:{big_h}:force_original_aspect_ratio=increase,"
          f"crop={width}:{height},setsar=1,trim=end_frame={frames},setpts=PTS-STARTPTS,"
          "format=yuv420p")
    return ffmpeg_args("-stream_loop", "-1", "-i", str(feature), "-map", "0:v:0", "-vf", vf,
                       "-an", *_encode(comment, False, preset), str(dest))


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def band_text(kind: str, words: str, width: int, height: int) -> str:
    """What the top band says: the kind of reference, then the words, wrapped."""
    size = max(10, height // 26)
    per_line = max(16, int(width * 0.6 / (size * 0.56)))
    lines = textwrap.wrap(" ".join(words.split()), per_line)[:2]
    return "\n".join([f"DRAFT · {kind}", *lines])


def overlay_command(base: Path, dest: Path, *, stills: Sequence[tuple[Path, str]],
                    textfile: Path | None, width: int, height: int, comment: str,
                    audio: bool, preset: str = "veryfast") -> list[str]:
    """``base`` with the band (words read from ``textfile``), the stills inset top-right
    (each named under it) and the DRAFT mark. ``base`` is already at ``width`` x
    ``height``, 24 fps; its sound (``audio``) is copied through."""
    font = drawtext_font()
    args = ["-i", str(base)]
    shown = list(stills)[:MAX_INSETS]
    for still, _ in shown:
        args += ["-loop", "1", "-framerate", str(FPS), "-i", str(still)]
    inset_h = _even(height / INSET_SHARE)
    pad = max(4, height // 60)
    label_size = max(10, inset_h // 9)
    top = pad * 2 + height // 8  # below the band
    parts: list[str] = []
    current = "[0:v]"
    if textfile is not None and font is not None:
        band = max(10, height // 26)
        tf = escape_filter_value(str(textfile))
        parts.append(f"{current}drawtext={font}:textfile={tf}:expansion=none:fontsize={band}:"
                     f"fontcolor=white:line_spacing={band // 3}:x={pad * 2}:y={pad * 2}:"
                     f"box=1:boxcolor=black@0.55:boxborderw={pad}[band]")
        current = "[band]"
    x = width - pad
    for n, (_, label) in enumerate(shown, start=1):
        # every still in a square box of the same size, framed white: positions are known
        chain = (f"[{n}:v]scale={inset_h}:{inset_h}:force_original_aspect_ratio=decrease,"
                 f"pad={inset_h}:{inset_h}:(ow-iw)/2:(oh-ih)/2:color=0x202020,setsar=1,"
                 f"format=yuv420p,pad=iw+{pad}:ih+{pad}:{pad // 2}:{pad // 2}:color=white")
        if font is not None and label:
            name = escape_filter_value(label[:40])
            chain += (f",drawtext={font}:text='{name}':expansion=none:fontsize={label_size}:"
                      f"fontcolor=white:box=1:boxcolor=black@0.7:boxborderw={label_size // 4}:"
                      f"x=(w-tw)/2:y=h-th-{label_size // 2}")
        parts.append(f"{chain}[inset{n}]")
        # right to left, each inset to the left of the one before
        parts.append(f"{current}[inset{n}]overlay=x={x}-w:y={top}:shortest=1[o{n}]")
        current = f"[o{n}]"
        x -= inset_h + pad * 2
    parts.append(f"{current}{draft_mark_graph()},format=yuv420p[vout]")
    maps = ["-map", "[vout]"]
    if audio:
        maps += ["-map", "0:a:0?"]
    return ffmpeg_args(*args, "-filter_complex", ";".join(parts), *maps,
                       *_encode(comment, audio, preset), "-shortest", str(dest))
