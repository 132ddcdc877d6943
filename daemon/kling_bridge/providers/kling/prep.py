"""Local, free preparation of inputs before a paid call (ffmpeg at the edge).

Lip-sync is the only operation that needs it: Kling syncs a *video* of a face to a sound
file of 2-60 s (≤5 MB, mp3/wav/m4a/aac). A still becomes a short still video, and the
chosen dialogue range is cut into a small AAC file so any source (a long WAV, a movie's
audio track) fits the limits. Outputs go to a scratch folder per task, written to a temp
name and renamed, so a retry after a crash reuses them.
"""

from __future__ import annotations

import base64
from pathlib import Path

from ...media.errors import MediaError
from ...media.run import arun, atomic_output, ffmpeg_args
from ..base import ErrorKind, ProviderError


async def _ffmpeg(args: list[str], dest: Path) -> Path:
    if dest.exists():
        return dest
    try:
        with atomic_output(dest) as tmp:
            await arun(ffmpeg_args(*args, str(tmp)), subject=dest)
    except MediaError as exc:
        raise ProviderError(
            ErrorKind.BAD_REQUEST,
            f"Could not prepare '{dest.name}' for Kling ({exc.problem[-200:]})",
            hint="check that the source media plays",
        ) from None
    return dest


async def still_video(image: Path, seconds: float, dest: Path) -> Path:
    """A 24 fps H.264 clip of ``image`` lasting ``seconds`` (720 px on its short side)."""
    return await _ffmpeg(
        ["-loop", "1", "-framerate", "24", "-t", f"{seconds:.3f}", "-i", str(image),
         "-vf", "scale='if(gt(iw,ih),-2,720)':'if(gt(iw,ih),720,-2)',format=yuv420p",
         "-c:v", "libx264", "-preset", "veryfast", "-an"],
        dest,
    )


async def sound_clip(audio: Path, start: float, end: float, dest: Path) -> Path:
    """The dialogue range as a small mono AAC file (well under Kling's 5 MB)."""
    return await _ffmpeg(
        ["-ss", f"{start:.3f}", "-t", f"{end - start:.3f}", "-i", str(audio), "-vn",
         "-ac", "1", "-c:a", "aac", "-b:a", "96k"],
        dest,
    )


def b64(path: Path) -> str:
    """Raw base64 (no ``data:`` prefix), as both standards take it."""
    return base64.b64encode(path.read_bytes()).decode("ascii")
