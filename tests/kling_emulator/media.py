"""ffprobe of fetched inputs and ffmpeg renders of results (real 24 fps mp4 files).

An edit's result keeps the input's length (re-timed to 24 fps, greyed and contrasted, the
sound kept when asked); a generation lasts the requested seconds; a lip-sync result is the
video with the dialogue laid in. Outputs are small (``height`` px) to keep tests fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .state import RenderSpec


@dataclass(frozen=True)
class Probe:
    format_name: str
    size: int
    duration: float
    width: int = 0
    height: int = 0
    fps: float = 0.0
    video_codec: str = ""
    audio_codec: str = ""
    video_duration: float = 0.0  # the video stream's own length (0: not stated)
    display_width: int = 0  # after the pixel aspect ratio and any rotation tag
    display_height: int = 0

    @property
    def has_video(self) -> bool:
        return bool(self.video_codec)

    def facts(self) -> dict[str, Any]:
        """What the emulator saw of an input (recorded per task for tests)."""
        return {"format": self.format_name, "size": self.size, "duration": self.duration,
                "video_duration": self.video_duration, "width": self.width,
                "height": self.height, "display": [self.display_width, self.display_height],
                "fps": self.fps, "video_codec": self.video_codec,
                "audio_codec": self.audio_codec}


async def _run(*args: str) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out, err


def _rate(value: str) -> float:
    try:
        r = Fraction(value)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(r) if r > 0 else 0.0


async def probe(path: Path) -> Probe | None:
    code, out, _ = await _run("ffprobe", "-v", "error", "-print_format", "json",
                              "-show_format", "-show_streams", str(path))
    if code != 0:
        return None
    data: dict[str, Any] = json.loads(out or b"{}")
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    video: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "video"), {})
    audio: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "audio"), {})
    fps = _rate(str(video.get("avg_frame_rate", "0/0"))) or _rate(
        str(video.get("r_frame_rate", "0/0")))
    width, height = int(video.get("width", 0) or 0), int(video.get("height", 0) or 0)
    dw, dh = _display_size(video, width, height)
    return Probe(
        format_name=str(fmt.get("format_name", "")),
        size=path.stat().st_size,
        duration=_seconds(fmt.get("duration")),
        width=width,
        height=height,
        fps=fps,
        video_codec=str(video.get("codec_name", "")),
        audio_codec=str(audio.get("codec_name", "")),
        video_duration=_seconds(video.get("duration")),
        display_width=dw,
        display_height=dh,
    )


def _seconds(value: Any) -> float:
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _display_size(video: dict[str, Any], width: int, height: int) -> tuple[int, int]:
    """The picture as a player shows it: pixel aspect applied, a 90/270 rotation swapped."""
    try:
        sar = Fraction(str(video.get("sample_aspect_ratio", "1:1")).replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        sar = Fraction(1)
    if sar > 0 and sar != 1:
        width = round(width * sar)
    rotation = 0
    tags = video.get("tags") or {}
    with contextlib.suppress(TypeError, ValueError):
        rotation = int(tags.get("rotate", 0))
    for side in video.get("side_data_list") or []:
        with contextlib.suppress(TypeError, ValueError):
            rotation = int(side.get("rotation", rotation))
    if abs(rotation) % 180 == 90:
        width, height = height, width
    return width, height


_GEN_SIZES = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1)}


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def _size(aspect: tuple[int, int], height: int) -> tuple[int, int]:
    w, h = aspect
    if w >= h:
        return _even(height * w / h), height
    return height, _even(height * h / w)


def render_args(spec: RenderSpec, out: Path, height: int) -> list[str]:
    enc = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-r", "24"]
    if spec.kind == "edit":
        assert spec.video is not None
        vf = f"scale=-2:{height}:flags=fast_bilinear,fps=24,hue=s=0,eq=contrast=1.4"
        audio = ["-map", "0:a:0?", "-c:a", "aac"] if spec.keep_audio else ["-an"]
        return ["ffmpeg", "-y", "-v", "error", "-i", str(spec.video), "-map", "0:v:0",
                "-vf", vf, *enc, *audio, str(out)]
    if spec.kind == "lipsync":
        assert spec.video is not None and spec.sound is not None
        start, end = spec.sound_range
        delay = int(spec.sound_insert * 1000)
        af = (f"atrim=start={start}:end={end},asetpts=PTS-STARTPTS,"
              f"adelay={delay}|{delay},apad")
        return ["ffmpeg", "-y", "-v", "error", "-i", str(spec.video), "-i", str(spec.sound),
                "-map", "0:v:0", "-map", "1:a:0", "-vf", f"fps=24,scale=-2:{height}",
                "-af", af, "-t", f"{spec.duration:.3f}", *enc, "-c:a", "aac", str(out)]
    d = f"{spec.duration:.3f}"
    sound = (["-f", "lavfi", "-i", f"sine=frequency=330:duration={d}"]
             if spec.native_audio else [])
    audio_out = ["-c:a", "aac", "-shortest"] if spec.native_audio else ["-an"]
    if spec.kind == "i2v":
        assert spec.image is not None
        return ["ffmpeg", "-y", "-v", "error", "-loop", "1", "-framerate", "24", "-t", d,
                "-i", str(spec.image), *sound,
                "-vf", f"scale=-2:{height},setsar=1",
                *enc, *audio_out, str(out)]
    w, h = _size(_GEN_SIZES.get(spec.aspect_ratio, (16, 9)), height)
    return ["ffmpeg", "-y", "-v", "error", "-f", "lavfi",
            "-i", f"testsrc2=size={w}x{h}:rate=24:duration={d}", *sound,
            *enc, *audio_out, str(out)]


async def render(spec: RenderSpec, out: Path, height: int) -> float:
    """Render ``spec`` into ``out``; return the result's length in seconds."""
    code, _, err = await _run(*render_args(spec, out, height))
    if code != 0:
        raise RuntimeError(err.decode(errors="replace")[-400:])
    facts = await probe(out)
    if facts is None or not facts.has_video:
        raise RuntimeError("render produced no video")
    return facts.duration
