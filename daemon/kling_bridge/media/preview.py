"""A flattened preview of a timeline: what the editor would see playing it, as one MP4.

The demo (and anyone without an editor at hand) needs to *watch* a result timeline. Items
are placed at their record frames on tracks; the top track wins where clips overlap, gaps
are black, every clip is fitted into the frame (bars, never a crop) and retimed to the
timeline rate; the clips' sound is mixed at their places. One ffmpeg pass, streamed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..specs import parse_rate, rate_str
from .extract import seek_seconds
from .probe import probe, require_motion_video
from .run import arun, atomic_output, ffmpeg_args, run


@dataclass(frozen=True)
class PreviewItem:
    path: str
    record_start: int  # timeline frame (at the preview rate) where the clip starts
    frame_count: int  # timeline frames it lasts
    track: int = 0  # higher tracks cover lower ones
    source_start: int = 0  # first frame of the media used (the media's own numbering)


def preview_command(items: Sequence[PreviewItem], dest: Path, *, rate: str | Fraction,
                    width: int, height: int, total_frames: int | None = None,
                    audio: bool = True, preset: str = "veryfast") -> list[str]:
    """The ffmpeg command for the preview (probes the items; runs nothing else)."""
    fps = parse_rate(rate) if not isinstance(rate, Fraction) else rate
    r = rate_str(fps)
    placed = sorted(enumerate(items), key=lambda p: (p[1].track, p[0]))
    total = total_frames or max((i.record_start + i.frame_count for i in items), default=1)
    seconds = Fraction(total) / fps
    args: list[str] = ["-f", "lavfi", "-i",
                       f"color=c=black:s={width}x{height}:r={r}:d={float(seconds):.6f}"]
    chains: list[str] = [f"[0:v]trim=end_frame={total},setsar=1[base0]"]
    audio_labels: list[str] = []
    current = "base0"
    for n, (_, item) in enumerate(placed, start=1):
        info = probe(item.path)
        v = require_motion_video(info)
        ss = seek_seconds(info, item.source_start, v.rate)
        args += (["-ss", f"{ss:.6f}"] if ss > 0 else []) + ["-i", item.path]
        offset = Fraction(item.record_start) / fps
        chains.append(
            f"[{n}:v]setpts=PTS-STARTPTS,fps={r},trim=end_frame={item.frame_count},"
            f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p,"
            f"setpts=PTS+{offset.numerator}/{offset.denominator}/TB[v{n}]")
        chains.append(f"[{current}][v{n}]overlay=eof_action=pass:repeatlast=0[base{n}]")
        current = f"base{n}"
        if audio and info.audio is not None:
            dur = Fraction(item.frame_count) / fps
            delay_ms = round(offset * 1000)
            chains.append(
                f"[{n}:a]asetpts=PTS-STARTPTS,atrim=end={float(dur):.6f},"
                f"aresample=48000,aformat=channel_layouts=stereo,"
                f"adelay={delay_ms}|{delay_ms}[a{n}]")
            audio_labels.append(f"[a{n}]")
    chains.append(f"[{current}]trim=end_frame={total},format=yuv420p[vout]")
    maps = ["-map", "[vout]"]
    if audio_labels:
        samples = round(seconds * 48000)
        mix = (f"{''.join(audio_labels)}amix=inputs={len(audio_labels)}:normalize=0:"
               f"dropout_transition=0" if len(audio_labels) > 1 else audio_labels[0] + "anull")
        chains.append(f"{mix},apad,atrim=end_sample={samples}[aout]")
        maps += ["-map", "[aout]"]
    enc = ["-c:v", "libx264", "-preset", preset, "-crf", "20", "-pix_fmt", "yuv420p",
           "-r", r, "-movflags", "+faststart", "-metadata", "comment=kling-bridge preview"]
    if audio_labels:
        enc += ["-c:a", "aac", "-b:a", "160k"]
    return ffmpeg_args(*args, "-filter_complex", ";".join(chains), *maps, *enc, str(dest))


def render_preview(items: Sequence[PreviewItem], dest: str | Path, *, rate: str | Fraction,
                   width: int, height: int, total_frames: int | None = None,
                   audio: bool = True, preset: str = "veryfast") -> Path:
    """Blocking: write the flattened preview to ``dest`` (temp name, then renamed)."""
    target = Path(dest)
    with atomic_output(target) as tmp:
        run(preview_command(items, tmp, rate=rate, width=width, height=height,
                            total_frames=total_frames, audio=audio, preset=preset),
            subject=target, what="rendering the preview")
    return target


async def arender_preview(items: Sequence[PreviewItem], dest: str | Path, *,
                          rate: str | Fraction, width: int, height: int,
                          total_frames: int | None = None, audio: bool = True,
                          preset: str = "veryfast") -> Path:
    target = Path(dest)
    args = await asyncio.to_thread(preview_command, items, target, rate=rate, width=width,
                                   height=height, total_frames=total_frames, audio=audio,
                                   preset=preset)
    with atomic_output(target) as tmp:
        await arun([*args[:-1], str(tmp)], subject=target, what="rendering the preview")
    return target
