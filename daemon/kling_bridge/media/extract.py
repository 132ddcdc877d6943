"""Cutting the planned segments out of a source, frame-exact, into provider-ready files.

Frame accuracy without decoding from the file's start: the input is seeked to half a frame
before the wanted frame (ffmpeg's accurate seek decodes from the keyframe before and drops
everything earlier *by timestamp*), so a cut mid-GOP lands on the exact frame and a
half-frame margin absorbs timestamp rounding. Variable-rate sources are the exception:
their frame N only exists after conversion to the constant rate, so they are converted
from the first frame, exactly as a whole-file conversion would number them.

Every file is written to a temp name and renamed, so an existing segment is a complete one
(re-running a prepare after a crash skips it). Location and other metadata are stripped:
a phone's GPS tags have no business on a provider's servers.
"""

from __future__ import annotations

import asyncio
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg

from ..specs import rate_str
from .fit import FitPlan, Segment
from .probe import MediaInfo
from .run import arun, atomic_output, ffmpeg_bin, run


def _expr_rate(rate: Fraction) -> str:
    """``N*1001/30000/TB``-style factor: seconds per frame as an exact expression."""
    return f"{rate.denominator}/{rate.numerator}"


def seek_seconds(media: MediaInfo, frame: int, rate: Fraction) -> float:
    """The ``-ss`` that keeps ``frame`` and drops the one before it (0 means no seek)."""
    v = media.video
    assert v is not None
    ss = (v.start_time - media.start_time) + float((Fraction(frame) - Fraction(1, 2)) / rate)
    return ss if ss > 0 else 0.0


def _input(media: MediaInfo, ss: float) -> Any:
    return ffmpeg.input(media.path, ss=f"{ss:.6f}") if ss > 0 else ffmpeg.input(media.path)


def picture_chain(stream: Any, plan: FitPlan, seg: Segment) -> Any:
    """Source frames -> fitted frames: exact frames, constant rate, canvas, hold."""
    if plan.deinterlace:
        stream = stream.filter("bwdif", mode="send_frame", parity="auto")
    if plan.to_cfr:
        # Constant rate from the file's first frame, then count: frame N as editors see it.
        stream = stream.filter("fps", fps=rate_str(plan.rate))
        stream = stream.filter("trim", start_frame=seg.src_start,
                               end_frame=seg.src_start + seg.src_frames)
    else:
        stream = stream.filter("trim", end_frame=seg.src_frames)
    # Regular timestamps at the plan's clock, whatever jitter the container had.
    stream = stream.filter("setpts", f"N*{_expr_rate(plan.clock)}/TB")
    if plan.fit_rate != plan.clock:
        stream = stream.filter("fps", fps=rate_str(plan.fit_rate))
    stream = stream.filter("trim", end_frame=seg.fit_frames)
    w, h = plan.canvas
    box = plan.content
    # bicubic: the provider redraws every pixel anyway; lanczos is kept for the conform,
    # whose pixels the editor keeps.
    stream = stream.filter("scale", box.width, box.height, flags="bicubic")
    stream = stream.filter("setsar", "1")
    if (box.width, box.height) != (w, h):
        stream = stream.filter("pad", w, h, box.x, box.y, color="black")
    total = seg.fit_frames + seg.pad_frames
    stream = stream.filter("tpad", stop=total, stop_mode="clone")  # covers rounding short
    stream = stream.filter("trim", end_frame=total)
    return stream.filter("format", "yuv420p")


def segment_command(plan: FitPlan, seg: Segment, dest: Path) -> list[str]:
    """The ffmpeg command that writes ``seg`` to ``dest`` (pure; nothing runs)."""
    media = plan.media
    v = media.video
    assert v is not None
    ss = 0.0 if plan.to_cfr else seek_seconds(media, seg.src_start, v.rate)
    inp = _input(media, ss)
    video = picture_chain(inp.video, plan, seg)
    streams = [video]
    enc = plan.encode
    total_s = Fraction(seg.fit_frames + seg.pad_frames) / plan.fit_rate
    if enc.audio and media.audio is not None:
        # Audio of frame ``src_start`` onward, in the seeked input's timeline.
        origin = media.start_time + ss
        t0 = v.start_time + float(seg.src_start / v.rate) - origin
        t1 = t0 + float(Fraction(seg.src_frames) / v.rate)
        layout = "stereo" if enc.audio_channels == 2 else "mono"
        audio = (
            inp.audio.filter("atrim", start=f"{max(0.0, t0):.6f}", end=f"{t1:.6f}")
            .filter("asetpts", "PTS-STARTPTS"))
        if plan.restamped:  # keep the sound under its (slightly faster) pictures
            audio = audio.filter("atempo", f"{float(plan.clock / plan.rate):.9f}")
        audio = (
            audio.filter("aformat", channel_layouts=layout)
            .filter("apad")
            .filter("atrim", end_sample=round(total_s * enc.audio_rate))
        )
        streams.append(audio)
    opts: dict[str, Any] = {
        "vcodec": "libx264", "preset": enc.preset, "crf": enc.crf,
        "maxrate": f"{enc.video_kbps_max}k", "bufsize": f"{enc.video_kbps_max}k",
        "pix_fmt": "yuv420p", "r": rate_str(plan.fit_rate), "movflags": "+faststart",
        "map_metadata": "-1", "map_chapters": "-1",
    }
    if len(streams) > 1:
        opts |= {"acodec": "aac", "b:a": f"{enc.audio_kbps}k", "ar": enc.audio_rate}
    out = ffmpeg.output(*streams, str(dest), **opts)
    cmd: list[str] = out.compile(cmd=[ffmpeg_bin(), "-hide_banner", "-nostdin", "-v", "error"],
                                 overwrite_output=True)
    return cmd


def segment_path(plan: FitPlan, seg: Segment, workdir: Path) -> Path:
    return workdir / seg.file


def extract_segment(plan: FitPlan, seg: Segment, workdir: Path) -> Path:
    """Write one segment (blocking); an existing file is a finished one and is kept."""
    dest = segment_path(plan, seg, workdir)
    if dest.exists():
        return dest
    with atomic_output(dest) as tmp:
        run(segment_command(plan, seg, tmp), subject=plan.media.path,
            what=f"cutting segment {seg.index}")
    return dest


async def aextract(plan: FitPlan, workdir: Path) -> list[Path]:
    """Write every segment without blocking the event loop (one ffmpeg at a time)."""
    out: list[Path] = []
    for seg in plan.segments:
        dest = segment_path(plan, seg, workdir)
        if not dest.exists():
            with atomic_output(dest) as tmp:
                await arun(segment_command(plan, seg, tmp), subject=plan.media.path,
                           what=f"cutting segment {seg.index}")
        out.append(dest)
    return out


_PTS = re.compile(r"pts_time:([0-9.]+)")


def scene_cuts_command(media: MediaInfo, start: int, frames: int, rate: Fraction,
                       threshold: float = 0.35) -> list[str]:
    v = media.video
    assert v is not None
    ss = 0.0 if v.vfr else seek_seconds(media, start, v.rate)
    chain = []
    if v.vfr:
        chain += [f"fps={rate_str(rate)}", f"trim=start_frame={start}:end_frame={start + frames}"]
    else:
        chain += [f"trim=end_frame={frames}"]
    chain += [f"setpts=N*{_expr_rate(rate)}/TB", "scale=160:-2",
              f"select='gt(scene\\,{threshold})'", "metadata=print:file=-"]
    args = [ffmpeg_bin(), "-hide_banner", "-nostdin", "-v", "error"]
    if ss > 0:
        args += ["-ss", f"{ss:.6f}"]
    return [*args, "-i", media.path, "-an", "-vf", ",".join(chain), "-f", "null", "-"]


def detect_scene_cuts(media: MediaInfo, start: int, frames: int, rate: Fraction,
                      threshold: float = 0.35) -> tuple[int, ...]:
    """File frame numbers where a new shot starts, inside ``start`` .. ``start + frames``.

    Only run when a range must be split (a downscaled decode of the range).
    """
    out = run(scene_cuts_command(media, start, frames, rate, threshold), subject=media.path,
              what="finding scene changes")
    found = {start + round(float(m) * rate) for m in _PTS.findall(out)}
    return tuple(sorted(f for f in found if start < f < start + frames))


async def adetect_scene_cuts(media: MediaInfo, start: int, frames: int, rate: Fraction,
                             threshold: float = 0.35) -> tuple[int, ...]:
    return await asyncio.to_thread(detect_scene_cuts, media, start, frames, rate, threshold)
