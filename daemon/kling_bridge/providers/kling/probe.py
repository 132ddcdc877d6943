"""ffprobe at the edge: the facts :mod:`.rules` checks, and a download's sanity check.

Kept to one subprocess call so the provider does not depend on the media package's
internals (it sits beside it in the layering, and Kling's checks need only these facts).
MP4/MOV, PNG and JPEG files -- what the media pipeline hands over -- are read from their
headers in-process first (:mod:`.headers`); ffprobe answers for anything else.
Facts are cached by (path, size, mtime) because ``validate`` and ``submit`` both need them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

from ...children import achild, spawn_options
from .headers import read_facts
from .rules import MediaFacts

_STILL_FORMATS = ("png_pipe", "jpeg_pipe", "image2", "mjpeg")
_CACHE: dict[tuple[str, int, int], MediaFacts] = {}
_CACHE_MAX = 512  # a long-running daemon probes many files; keep the recent ones


class ProbeError(Exception):
    """ffprobe could not read the file (not media, truncated, missing)."""


def _rate(value: str) -> float:
    try:
        rate = Fraction(value)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(rate) if rate > 0 else 0.0


def _args(path: Path) -> list[str]:
    return ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
            str(path)]


def facts_from_json(path: Path, size: int, data: dict[str, Any]) -> MediaFacts:
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    first = video or audio or {}
    is_still = str(fmt.get("format_name", "")) in _STILL_FORMATS
    fps = 0.0
    if video:
        fps = _rate(str(video.get("avg_frame_rate", "0/0"))) or _rate(
            str(video.get("r_frame_rate", "0/0"))
        )
    try:
        duration = float(fmt.get("duration") or first.get("duration") or 0.0)
    except (TypeError, ValueError):
        duration = 0.0
    return MediaFacts(
        path=path,
        size_bytes=size,
        format_name=str(fmt.get("format_name", "")),
        codec=str(first.get("codec_name", "")),
        width=int(video.get("width", 0)) if video else 0,
        height=int(video.get("height", 0)) if video else 0,
        fps=fps,
        duration=duration,
        has_video=video is not None and not is_still,
        has_audio=audio is not None,
    )


def probe(path: Path) -> MediaFacts:
    """Facts of ``path`` (blocking; cached). Raises :class:`ProbeError` if unreadable."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ProbeError(f"{path}: {exc.strerror or exc}") from exc
    key = (str(path), st.st_size, st.st_mtime_ns)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    facts = read_facts(path, st.st_size) or ffprobe_facts(path, st.st_size)
    if len(_CACHE) >= _CACHE_MAX:
        del _CACHE[next(iter(_CACHE))]
    _CACHE[key] = facts
    return facts


def ffprobe_facts(path: Path, size: int) -> MediaFacts:
    """Facts as ffprobe reports them (blocking, uncached): the authority headers defer to."""
    proc = subprocess.run(_args(path), capture_output=True, text=True, check=False,
                          **spawn_options())
    if proc.returncode != 0:
        raise ProbeError(f"{path.name}: not readable media ({proc.stderr.strip()[:200]})")
    return facts_from_json(path, size, json.loads(proc.stdout or "{}"))


async def probe_async(path: Path) -> MediaFacts:
    return await asyncio.to_thread(probe, path)


async def verify_video(path: Path) -> MediaFacts:
    """A downloaded result must be a video with a length; else it is not kept."""
    size = path.stat().st_size
    facts = read_facts(path, size)
    if facts is None:
        async with achild(_args(path), stdout=asyncio.subprocess.PIPE,
                          stderr=asyncio.subprocess.PIPE) as proc:
            out, err = await proc.communicate()
        if proc.returncode != 0:
            raise ProbeError(f"{path.name}: not a readable video ({err.decode()[:200].strip()})")
        facts = facts_from_json(path, size, json.loads(out or b"{}"))
    if not facts.has_video or facts.duration <= 0:
        raise ProbeError(f"{path.name}: no video stream with a duration")
    return facts
