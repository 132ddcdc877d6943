"""Offline stand-ins for Kling's answers, rendered with ffmpeg.

Each draft mimics what Kling returns -- 24 fps, the requested resolution and aspect, the
requested length (an edit keeps its input's), native audio when asked -- so everything
downstream (fetch, conform, timeline) runs exactly as in production. What is *in* the
picture is honest about being a draft: a look approximated by a filter graph, a slate
carrying the prompt, a Ken Burns move over the reference still, a waveform driven by the
dialogue; every picture carries a small "DRAFT" mark (:mod:`.marks`; a restyle gets it
when conformed) and every file says "kling-bridge draft" in its metadata.
"""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .fit import RESOLUTION_SHORT_SIDE
from .fonts import drawtext_font, escape_filter_value
from .looks import wrap_graph
from .marks import draft_mark_graph
from .run import arun, atomic_output, ffmpeg_args

FPS = 24
DRAFT_TAG = "kling-bridge draft"
_PALETTES = (  # dark and light in turn, so consecutive shots cut visibly
    ("0x14213d", "0x3e7cb1"), ("0xd9a441", "0xf3d9a4"), ("0x2d1b49", "0xb13e8f"),
    ("0x6fc2b0", "0xcdeee6"), ("0x1b4937", "0x3eb17c"), ("0xe08fa0", "0xf6d3db"),
)


def aspect_of(ratio: str) -> Fraction:
    """``"16:9"`` -> 16/9 (``"1:1"``, ``"9:16"`` ...)."""
    w, _, h = ratio.partition(":")
    return Fraction(int(w), int(h or 1))


def short_side(resolution: str, override: int | None = None) -> int:
    """The short side of a resolution's frames (``override`` in its place when given)."""
    return override or RESOLUTION_SHORT_SIDE.get(resolution.lower(), 1080)


def output_size(resolution: str, aspect: Fraction,
                short: int | None = None) -> tuple[int, int]:
    """Kling's frame size for a resolution and an aspect: the short side is the resolution
    (or ``short``, when a caller renders smaller frames than Kling's)."""
    short = short_side(resolution, short)
    if aspect >= 1:
        w = round(short * aspect)
        return w - (w % 2), short
    h = round(short / aspect)
    return short, h - (h % 2)


def _encode(comment: str, audio: bool, preset: str) -> list[str]:
    args = ["-c:v", "libx264", "-preset", preset, "-crf", "20", "-pix_fmt", "yuv420p",
            "-r", str(FPS), "-movflags", "+faststart", "-metadata", f"comment={comment}",
            "-metadata", "title=kling-bridge draft"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "160k", "-ar", "48000"]
    return args


def _samples(seconds: float) -> int:
    return round(seconds * 48000)


# --- restyle ----------------------------------------------------------------------------


def edit_command(src: Path, dest: Path, graph: str, *, resolution: str, keep_audio: bool,
                 comment: str, preset: str = "veryfast", short: int | None = None
                 ) -> list[str]:
    """A look applied to a fitted clip: 24 fps, the resolution's short side (or ``short``),
    same length."""
    short = short_side(resolution, short)
    scale = (f"scale='if(gte(iw,ih),-2,{short})':'if(gte(iw,ih),{short},-2)':flags=bicubic,"
             "setsar=1,format=yuv420p")
    vf = wrap_graph(graph, before=f"fps={FPS}", after=scale)
    args = ["-i", str(src), "-map", "0:v:0", "-vf", vf]
    if keep_audio:
        args += ["-map", "0:a:0?"]
    return ffmpeg_args(*args, *_encode(comment, keep_audio, preset), "-map_metadata", "-1",
                       str(dest))


# --- slates (text to video, multi-shot) -----------------------------------------------


@dataclass(frozen=True)
class SlateShot:
    text: str
    seconds: float


def _wrap(text: str, width: int, fontsize: int, max_lines: int) -> str:
    per_line = max(12, int(width * 0.84 / (fontsize * 0.56)))
    lines = textwrap.wrap(" ".join(text.split()), per_line) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: per_line - 1].rstrip() + "…"
    return "\n".join(lines)


def _text_filters(textfile: Path, label: str, width: int, height: int, font: str) -> list[str]:
    big = max(14, height // 16)
    small = max(10, height // 30)
    tf = escape_filter_value(str(textfile))
    lab = escape_filter_value(label)
    return [
        f"drawtext={font}:textfile={tf}:expansion=none:fontsize={big}:fontcolor=white:"
        f"line_spacing={big // 3}:x=(w-tw)/2:y=(h-th)/2-t*{max(1, height // 200)}:"
        f"shadowcolor=black@0.6:shadowx=2:shadowy=2",
        f"drawtext={font}:text='{lab}':expansion=none:fontsize={small}:fontcolor=white@0.85:"
        f"x={small}:y={small}:box=1:boxcolor=black@0.35:boxborderw={small // 3}",
        f"drawtext={font}:text='DRAFT':expansion=none:fontsize={small}:fontcolor=0xffcc00:"
        f"x=w-tw-{small}:y={small}",
    ]


def slate_command(dest: Path, shots: Sequence[SlateShot], *, width: int, height: int,
                  audio: bool, seed: int, comment: str, textfiles: Sequence[Path],
                  preset: str = "veryfast") -> list[str]:
    """One animated slate per shot, hard cuts between them (``textfiles`` hold the words)."""
    font = drawtext_font()
    inputs: list[str] = []
    chains: list[str] = []
    total = sum(s.seconds for s in shots)
    for i, shot in enumerate(shots):
        c0, c1 = _PALETTES[(seed + i) % len(_PALETTES)]
        frames = round(shot.seconds * FPS)
        inputs += ["-f", "lavfi", "-i",
                   f"gradients=s={width}x{height}:r={FPS}:c0={c0}:c1={c1}:speed=0.015:"
                   f"seed={seed * 7 + i}"]
        chain = [f"trim=end_frame={frames}", "setpts=PTS-STARTPTS"]
        if font is not None:
            label = (f"shot {i + 1} of {len(shots)} · {shot.seconds:g} s" if len(shots) > 1
                     else f"text to video · {shot.seconds:g} s")
            chain += _text_filters(textfiles[i], label, width, height, font)
        else:  # no font on this machine: a moving bar per shot instead of words
            chain.append(f"drawbox=x=0:y=ih*0.45:w=iw*(t+0.01)/{shot.seconds}:h=ih/10:"
                         "color=white@0.6:t=fill")
        chains.append(f"[{i}:v]{','.join(chain)},setsar=1,format=yuv420p[v{i}]")
    joined = "".join(f"[v{i}]" for i in range(len(shots)))
    graph = ";".join(chains) + (f";{joined}concat=n={len(shots)}:v=1:a=0,"
                                f"{draft_mark_graph()}[vout]")
    args = [*inputs]
    maps = ["-map", "[vout]"]
    if audio:
        n = len(shots)
        args += ["-f", "lavfi", "-i",
                 f"aevalsrc='0.08*sin(2*PI*(196+{seed % 5}*22)*t)*(0.6+0.4*sin(2*PI*0.25*t))"
                 f"|0.08*sin(2*PI*(247+{seed % 5}*22)*t)*(0.6+0.4*sin(2*PI*0.2*t))':s=48000"]
        graph += f";[{n}:a]atrim=end_sample={_samples(total)},afade=t=in:d=0.3[aout]"
        maps += ["-map", "[aout]"]
    return ffmpeg_args(*args, "-filter_complex", graph, *maps, *_encode(comment, audio, preset),
                       str(dest))


# --- image to video -----------------------------------------------------------------------


_MOVES = (  # zoom in on the centre, drift right, drift up, zoom out
    ("min(1+0.25*on/{n},1.25)", "iw/2-iw/zoom/2", "ih/2-ih/zoom/2"),
    ("1.15", "(iw-iw/zoom)*on/{n}", "ih/2-ih/zoom/2"),
    ("1.15", "iw/2-iw/zoom/2", "(ih-ih/zoom)*(1-on/{n})"),
    ("max(1.25-0.25*on/{n},1)", "iw/2-iw/zoom/2", "ih/2-ih/zoom/2"),
)


def _kenburns_chain(index: int, frames: int, width: int, height: int, move: int) -> str:
    z, x, y = (part.format(n=max(1, frames - 1)) for part in _MOVES[move % len(_MOVES)])
    # Upscale first: zoompan moves in whole pixels, so a bigger canvas means a smoother move.
    big_w = min(2 * width, 4096)
    big_h = round(big_w * height / width / 2) * 2
    return (f"[{index}:v]scale={big_w}:{big_h}:force_original_aspect_ratio=increase,"
            f"crop={big_w}:{big_h},setsar=1,"
            f"zoompan=z='{z}':x='{x}':y='{y}':d={frames}:s={width}x{height}:fps={FPS},"
            f"trim=end_frame={frames},setpts=PTS-STARTPTS,format=yuv420p")


def kenburns_command(dest: Path, image: Path, *, seconds: Sequence[float], width: int,
                     height: int, end_image: Path | None, audio: bool, seed: int,
                     comment: str, preset: str = "veryfast") -> list[str]:
    """A slow move over the still; one move per shot with cuts between; a dissolve to the
    end frame when one is given."""
    args = ["-i", str(image)]
    if end_image is not None:
        args += ["-i", str(end_image)]
    chains: list[str] = []
    labels: list[str] = []
    for i, secs in enumerate(seconds):
        frames = round(secs * FPS)
        args_index = 0
        chains.append(_kenburns_chain(args_index, frames, width, height, seed + i) + f"[k{i}]")
        labels.append(f"[k{i}]")
    if len(seconds) > 1:
        # one decoded still feeds every shot
        chains = [c.replace("[0:v]", f"[s{i}]", 1) for i, c in enumerate(chains)]
        chains.insert(0, f"[0:v]split={len(seconds)}" + "".join(f"[s{i}]" for i in
                                                                 range(len(seconds))))
        graph = ";".join(chains) + ";" + "".join(labels) + f"concat=n={len(seconds)}:v=1:a=0[kb]"
    else:
        graph = ";".join(chains).replace("[k0]", "[kb]")
    total = sum(seconds)
    if end_image is not None:
        fade = min(1.0, total / 3)
        frames = round(total * FPS)
        graph += (f";[1:v]scale={width}:{height}:force_original_aspect_ratio=increase,"
                  f"crop={width}:{height},setsar=1,loop=loop={frames}:size=1,"
                  f"fps={FPS},trim=end_frame={frames},setpts=PTS-STARTPTS,format=yuv420p[end];"
                  f"[kb]settb=1/{FPS}[kbt];[end]settb=1/{FPS}[endt];"
                  f"[kbt][endt]xfade=transition=fade:duration={fade:.3f}:"
                  f"offset={total - fade:.3f},trim=end_frame={frames},"
                  f"{draft_mark_graph()}[vout]")
    else:
        graph += f";[kb]{draft_mark_graph()}[vout]"
    maps = ["-map", "[vout]"]
    if audio:
        idx = 2 if end_image is not None else 1
        args += ["-f", "lavfi", "-i", "anoisesrc=color=brown:amplitude=0.05:sample_rate=48000"]
        graph += f";[{idx}:a]atrim=end_sample={_samples(total)},afade=t=in:d=0.5[aout]"
        maps += ["-map", "[aout]"]
    return ffmpeg_args(*args, "-filter_complex", graph, *maps, *_encode(comment, audio, preset),
                       str(dest))


# --- lip-sync ---------------------------------------------------------------------------


def lipsync_command(dest: Path, *, picture: Path, picture_is_video: bool, audio: Path,
                    start: float, end: float, width: int, height: int,
                    comment: str, preset: str = "veryfast") -> list[str]:
    """The picture (still or looping clip) with a mouth-like waveform driven by the dialogue."""
    seconds = max(0.1, end - start)
    frames = round(seconds * FPS)
    args = (["-stream_loop", "-1", "-i", str(picture)] if picture_is_video
            else ["-loop", "1", "-framerate", str(FPS), "-i", str(picture)])
    args += ["-ss", f"{start:.6f}", "-t", f"{seconds + 0.5:.6f}", "-i", str(audio)]
    mouth_w, mouth_h = width // 3 // 2 * 2, height // 6 // 2 * 2
    graph = (
        f"[0:v]fps={FPS},scale={width}:{height}:force_original_aspect_ratio=increase,"
        f"crop={width}:{height},setsar=1,trim=end_frame={frames},setpts=PTS-STARTPTS[pic];"
        f"[1:a]aresample=48000,asetpts=PTS-STARTPTS,apad,atrim=end_sample={_samples(seconds)},"
        f"asplit[a1][aout];"
        f"[a1]showwaves=s={mouth_w}x{mouth_h}:mode=cline:rate={FPS}:colors=0xff4060:"
        f"scale=sqrt,format=yuva420p,colorkey=black:0.1:0.1[wave];"
        f"[pic][wave]overlay=x=(W-w)/2:y=H*0.62:shortest=0,trim=end_frame={frames},"
        f"{draft_mark_graph()},format=yuv420p[vout]"
    )
    return ffmpeg_args(*args, "-filter_complex", graph, "-map", "[vout]", "-map", "[aout]",
                       *_encode(comment, True, preset), str(dest))


# --- running ------------------------------------------------------------------------------


async def render(args: list[str], dest: Path, *, subject: str | Path | None = None,
                 what: str = "rendering a draft") -> Path:
    """Run a draft command whose last argument is ``dest``, atomically."""
    with atomic_output(dest) as tmp:
        await arun([*args[:-1], str(tmp)], subject=subject, what=what)
    return dest


async def render_slates(dest: Path, shots: Sequence[SlateShot], *, width: int, height: int,
                        audio: bool, seed: int, comment: str,
                        preset: str = "veryfast") -> Path:
    """Write the shots' words to files beside ``dest`` (drawtext reads them), render, tidy."""
    font_size = max(14, height // 16)
    textfiles = []
    for i, shot in enumerate(shots):
        tf = dest.with_name(f".{dest.stem}.shot{i}.txt")
        tf.write_text(_wrap(shot.text, width, font_size, max_lines=7), encoding="utf-8")
        textfiles.append(tf)
    try:
        return await render(slate_command(dest, shots, width=width, height=height, audio=audio,
                                          seed=seed, comment=comment, textfiles=textfiles,
                                          preset=preset),
                            dest, what="rendering a draft slate")
    finally:
        for tf in textfiles:
            with contextlib.suppress(FileNotFoundError):
                tf.unlink()

