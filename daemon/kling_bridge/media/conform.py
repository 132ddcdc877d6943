"""Putting provider answers back exactly over their source: the other half of :mod:`.fit`.

The provider answers each segment at its own rate (Kling: 24 fps) and resolution. Conform
reads the stored :class:`~.fit.FitPlan` and, in one ffmpeg pass per job:

* cuts each answer to the source picture it carries (dropping the held padding frames),
* crops the letterbox/pillarbox back off (as fractions: the answer's size may differ),
* scales to the source's frame size and pixel aspect,
* retimes to the source rate with an exact frame count per segment, then stitches,
* trims the handles off, so the result has *exactly* the range's frame count,
* lays the source's own audio for that range under it, sample for sample,
* stamps the timecode of the range's first frame.

Generated clips (no source) go through :func:`conform_generated` when the editor asks for
the timeline's rate and geometry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg

from ..specs import rate_str
from .fit import FitPlan
from .marks import draft_mark_filter
from .run import arun, atomic_output, ffmpeg_bin, run

#: Decode audio from the start below this offset; seek (sample-accurately) beyond it.
_AUDIO_SEEK_AFTER = 30.0


@dataclass(frozen=True)
class ConformOptions:
    crf: int = 16
    preset: str = "veryfast"
    comment: str | None = None  # e.g. "kling-bridge draft (film-noir)"
    draft_mark: bool = False  # burn the small "DRAFT" mark in (draft provider's work)


def _frac(f: Fraction) -> str:
    return f"{f.numerator}/{f.denominator}"


def _video_codec_opts(codec: str, pix_fmt: str, options: ConformOptions) -> dict[str, Any]:
    if codec == "prores":
        return {"vcodec": "prores_ks", "profile:v": 3,
                "pix_fmt": pix_fmt if pix_fmt.startswith("yuv4") else "yuv422p10le"}
    return {"vcodec": "libx264", "preset": options.preset, "crf": options.crf,
            "pix_fmt": "yuv420p"}


def _audio_codec_opts(dest: Path, bits: int, codec: str) -> dict[str, Any]:
    if dest.suffix.lower() in (".mov", ".mxf"):
        deep = bits > 16 or codec in ("pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_f32le")
        return {"acodec": "pcm_s24le" if deep else "pcm_s16le"}
    return {"acodec": "aac", "b:a": "256k"}


def audio_samples(frames: int, rate: Fraction, sample_rate: int) -> int:
    """Samples under ``frames`` frames: the audio length a conformed clip must have."""
    return round(Fraction(frames) / rate * sample_rate)


def _source_audio(plan: FitPlan) -> Any | None:
    media = plan.media
    v, a = media.video, media.audio
    if a is None or v is None:
        return None
    sr = a.sample_rate
    # The range's first frame, in absolute seconds; the audio's first sample likewise.
    wanted = Fraction(v.start_time).limit_denominator(10**6) + Fraction(
        plan.source.start_frame) / v.rate
    a_start = Fraction(a.start_time).limit_denominator(10**6)
    count = audio_samples(plan.target.frame_count, plan.rate, sr)
    lead = 0
    if wanted - a_start > _AUDIO_SEEK_AFTER:
        ss = float(wanted - 10)  # seek relative to the container start, well before
        origin = Fraction(media.start_time).limit_denominator(10**6) + Fraction(ss)
        inp = ffmpeg.input(media.path, ss=f"{ss:.6f}")
        start = round((wanted - origin) * sr)
    else:
        inp = ffmpeg.input(media.path)
        start = round((wanted - a_start) * sr)
        if start < 0:  # audio begins after the picture: silence first
            lead, start = -start, 0
    stream = inp.audio.filter("atrim", start_sample=start, end_sample=start + count)
    stream = stream.filter("asetpts", "PTS-STARTPTS")
    if lead:
        stream = stream.filter("adelay", delays=f"{lead}S", all=1)
    return stream.filter("apad").filter("atrim", end_sample=count)


def conform_command(plan: FitPlan, results: Sequence[Path], dest: Path,
                    options: ConformOptions | None = None) -> list[str]:
    """ffmpeg command turning the provider's ``results`` (one per segment) into ``dest``."""
    options = options or ConformOptions()
    if len(results) != len(plan.segments):
        raise ValueError(f"{len(plan.segments)} segments planned, {len(results)} results given")
    t = plan.target
    crop = plan.crop_fractions
    parts = []
    for seg, path in zip(plan.segments, results, strict=True):
        s = ffmpeg.input(str(path)).video
        s = s.filter("setpts", "PTS-STARTPTS")
        s = s.filter("trim", end=f"{float(seg.content_seconds(plan.clock)):.6f}")
        if plan.clock != plan.rate:  # sent frame for frame at a nearby rate: time back
            s = s.filter("setpts", f"PTS*{_frac(plan.clock / plan.rate)}")
        if crop is not None:
            x, y, w, h = crop
            s = s.filter("crop", w=f"iw*{_frac(w)}", h=f"ih*{_frac(h)}",
                         x=f"iw*{_frac(x)}", y=f"ih*{_frac(y)}")
        s = s.filter("scale", t.width, t.height, flags="lanczos")
        s = s.filter("setsar", _frac(t.sar))
        s = s.filter("fps", fps=rate_str(plan.rate), start_time=0)
        s = s.filter("tpad", stop=seg.src_frames, stop_mode="clone")
        s = s.filter("trim", end_frame=seg.src_frames)
        parts.append(s)
    video = parts[0] if len(parts) == 1 else ffmpeg.concat(*parts, n=len(parts), v=1, a=0)
    off = plan.range_offset
    video = video.filter("trim", start_frame=off, end_frame=off + t.frame_count)
    video = video.filter("setpts", "PTS-STARTPTS")
    if options.draft_mark:
        name, mark = draft_mark_filter()
        video = video.filter(name, **mark)
    streams = [video]
    opts: dict[str, Any] = {"r": rate_str(plan.rate), "map_metadata": "-1",
                            **_video_codec_opts(t.codec, t.pix_fmt, options)}
    audio = _source_audio(plan)
    if audio is not None and plan.media.audio is not None:
        streams.append(audio)
        opts |= _audio_codec_opts(dest, plan.media.audio.bits_per_sample,
                                  plan.media.audio.codec)
    if t.timecode:
        opts["timecode"] = t.timecode
    if options.comment:
        opts["metadata"] = f"comment={options.comment}"
    out = ffmpeg.output(*streams, str(dest), **opts)
    cmd: list[str] = out.compile(cmd=[ffmpeg_bin(), "-hide_banner", "-nostdin", "-v", "error"],
                                 overwrite_output=True)
    return cmd


def conform(plan: FitPlan, results: Sequence[Path], dest: Path,
            options: ConformOptions | None = None) -> Path:
    """Blocking conform to ``dest`` (temp name, then renamed)."""
    with atomic_output(dest) as tmp:
        run(conform_command(plan, results, tmp, options), subject=plan.media.path,
            what="conforming the result")
    return dest


async def aconform(plan: FitPlan, results: Sequence[Path], dest: Path,
                   options: ConformOptions | None = None) -> Path:
    with atomic_output(dest) as tmp:
        await arun(conform_command(plan, results, tmp, options), subject=plan.media.path,
                   what="conforming the result")
    return dest


# --- generated clips --------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedTarget:
    rate: Fraction
    width: int  # 0 (with height 0): keep the generated picture's size
    height: int
    frames: int | None = None  # exactly this many frames; None: the clip's length in time


def conform_generated_command(src: Path, dest: Path, target: GeneratedTarget, *,
                              src_seconds: float, has_audio: bool,
                              options: ConformOptions | None = None) -> list[str]:
    """A generated clip at the timeline's rate and size, keeping its length in time -- or
    cut (the last frame held, if need be) to exactly ``target.frames``.

    The picture is fitted inside the frame (bars, never cropping what the model made);
    frame count is the clip's duration at the new rate, rounded to whole frames.
    """
    options = options or ConformOptions()
    frames = target.frames or max(
        1, round(Fraction(src_seconds).limit_denominator(10**6) * target.rate))
    inp = ffmpeg.input(str(src))
    v = inp.video.filter("setpts", "PTS-STARTPTS")
    if target.width and target.height:
        v = v.filter("scale", target.width, target.height,
                     force_original_aspect_ratio="decrease", flags="lanczos")
        v = v.filter("pad", target.width, target.height, "(ow-iw)/2", "(oh-ih)/2",
                     color="black")
    v = v.filter("setsar", "1").filter("fps", fps=rate_str(target.rate), start_time=0)
    v = v.filter("tpad", stop=frames, stop_mode="clone").filter("trim", end_frame=frames)
    streams = [v]
    opts: dict[str, Any] = {"r": rate_str(target.rate),
                            **_video_codec_opts("h264", "yuv420p", options)}
    if has_audio:
        samples = audio_samples(frames, target.rate, 48000)
        a = (inp.audio.filter("aresample", 48000).filter("asetpts", "PTS-STARTPTS")
             .filter("apad").filter("atrim", end_sample=samples))
        streams.append(a)
        opts |= _audio_codec_opts(dest, 16, "")
    if options.comment:
        opts["metadata"] = f"comment={options.comment}"
    cmd: list[str] = ffmpeg.output(*streams, str(dest), **opts).compile(
        cmd=[ffmpeg_bin(), "-hide_banner", "-nostdin", "-v", "error"], overwrite_output=True)
    return cmd


async def aconform_generated(src: Path, dest: Path, target: GeneratedTarget, *,
                             src_seconds: float, has_audio: bool,
                             options: ConformOptions | None = None) -> Path:
    with atomic_output(dest) as tmp:
        await arun(conform_generated_command(src, tmp, target, src_seconds=src_seconds,
                                             has_audio=has_audio, options=options),
                   subject=src, what="conforming the generated clip")
    return dest
