"""The media facts service: a file's facts, asked once per version of the file.

Two depths of facts, one place for both:

* :func:`header_facts` -- what the file's headers say (size, codec, picture size, rate,
  duration): what a provider's input rules check before every paid task. MP4/MOV, PNG and
  JPEG headers are read in-process (:mod:`.headers`); anything else is asked of ffprobe.
* :func:`.probe.probe` -- what the file really holds (counted frames, exact rate, timecode),
  measured by a pass over the packets: what a frame-exact round trip is planned on.

Both are remembered in one cache (:func:`remembered`), keyed by the file's identity and
version (device, inode, size, mtime): one job asks about the same source, fitted input
and answer several times (fit, checks, validate, submit, conform, preview), and each
ffprobe is a process. Files the bridge writes are renamed into place (a new inode), so a
rewrite is never mistaken for the file asked about before. ffprobe is always the one
``KLING_BRIDGE_FFPROBE`` names (:mod:`.run`).

Bad input is refused with a :mod:`.errors` exception that names the file and says what
to do.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from ..fileguard import kind_of, path_problem
from .errors import FfmpegFailed, MediaCorrupt, MediaEmpty, MediaMissing, MediaUnreadable
from .headers import MediaFacts, read_facts
from .run import ffprobe_bin, run

T = TypeVar("T")

#: ffprobe's format names of still pictures (a "video" stream of one frame).
STILL_FORMATS = frozenset({
    "image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif",
    "gif_pipe", "j2k_pipe", "jpegxl_pipe", "qoi_pipe",
})


def check_readable(path: str | Path) -> Path:
    """Refuse a missing, empty or unreadable path before ffprobe makes a vaguer complaint."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise MediaMissing(p, "file not found", "check the path; the media may be offline or "
                           "was moved (relink it in your editor)") from None
    except OSError as exc:
        raise MediaUnreadable(p, f"cannot be read ({exc.strerror})",
                              "check the drive is mounted and you have permission") from None
    if stat.S_ISDIR(st.st_mode):
        raise MediaUnreadable(p, "is a folder, not a media file", "choose the clip itself")
    kind = kind_of(st.st_mode)
    problem = path_problem(os.path.realpath(p))
    if kind is not None or problem:
        # A device streams for ever, a FIFO blocks ffprobe, /proc files claim 0 bytes.
        raise MediaUnreadable(p, f"is {kind or 'a system file'}, not a media file",
                              "choose the clip itself (a regular file)")
    if not os.access(p, os.R_OK):
        raise MediaUnreadable(p, "permission denied", "make the file readable for your user")
    if st.st_size == 0:
        raise MediaEmpty(p, "file is empty (0 bytes)",
                         "the copy or render that made it did not finish; export it again")
    return p


def ffprobe_json(p: Path) -> dict[str, Any]:
    """ffprobe's account of the container and its streams (one process, no packet scan)."""
    args = [ffprobe_bin(), "-v", "error", "-show_format", "-show_streams", "-of", "json", str(p)]
    try:
        out = run(args, subject=p, what="ffprobe")
    except FfmpegFailed as exc:
        raise unreadable(p, exc.detail) from None
    data: dict[str, Any] = json.loads(out or "{}")
    return data


def unreadable(p: Path, detail: str) -> MediaCorrupt:
    """The refusal of a file ffprobe cannot read at all (``detail``: what it said)."""
    return MediaCorrupt(
        p, f"not a readable media file ({reason(detail)})",
        "if it is a video, it may be truncated or damaged: copy or export it again",
    )


def reason(detail: str) -> str:
    """ffprobe's last complaint, without the ``path: `` it starts with (we name the file)."""
    line = detail.splitlines()[-1] if detail else "unknown error"
    return line.split(": ", 1)[-1] if ": " in line else line


def _rate(value: str) -> float:
    try:
        rate = Fraction(value)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(rate) if rate > 0 else 0.0


def facts_from_json(path: Path, size: int, data: dict[str, Any]) -> MediaFacts:
    """:class:`MediaFacts` from :func:`ffprobe_json`'s answer."""
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    first = video or audio or {}
    is_still = str(fmt.get("format_name", "")) in STILL_FORMATS
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


def ffprobe_facts(path: Path, size: int) -> MediaFacts:
    """Facts as ffprobe reports them (blocking, uncached): the authority headers defer to."""
    return facts_from_json(path, size, ffprobe_json(path))


def fresh_facts(path: Path) -> MediaFacts:
    """The file's headers, or ffprobe where they do not settle it (uncached)."""
    p = check_readable(path)
    size = p.stat().st_size
    return read_facts(p, size) or ffprobe_facts(p, size)


# --------------------------------------------------------------------------- the cache

_KNOWN: OrderedDict[tuple[str, str, int, int, int, int], Any] = OrderedDict()
_KNOWN_MAX = 512
_KNOWN_LOCK = threading.Lock()  # facts are asked from worker threads


def remembered(path: Path, depth: str, measure: Callable[[Path], T]) -> T:
    """``measure(path)``, once per version of the file and ``depth`` of facts (the caller
    checked the path is readable). The newest 512 answers are kept.

    A version is the file's identity (device, inode) and its size and mtime, not its name:
    a hard link is the same bytes, and the daemon places files by linking (a draft's
    render into the job's ``fetched`` folder, results into ``--out``), so the facts
    measured under one name serve the others. The name's extension stays in the key, as
    ffprobe's guess of a format may lean on it; callers put the asked name in the answer."""
    st = path.stat()
    key = (depth, path.suffix.lower(), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _KNOWN_LOCK:
        if key in _KNOWN:
            _KNOWN.move_to_end(key)
            known: T = _KNOWN[key]
            return known
    value = measure(path)
    with _KNOWN_LOCK:
        _KNOWN[key] = value
        while len(_KNOWN) > _KNOWN_MAX:
            _KNOWN.popitem(last=False)
    return value


def forget_all() -> None:
    """Empty the cache (tests that swap the ffprobe binary)."""
    with _KNOWN_LOCK:
        _KNOWN.clear()


def header_facts(path: Path) -> MediaFacts:
    """What ``path``'s headers say (blocking; remembered). Raises a :class:`MediaError`
    for a missing, empty or unreadable file."""
    p = check_readable(path)
    facts = remembered(p, "headers", fresh_facts)
    return facts if facts.path == p else replace(facts, path=p)


async def verify_video(path: Path) -> MediaFacts:
    """A downloaded answer must be a video with a length; else it is not kept (raises
    :class:`MediaCorrupt`)."""
    facts = await asyncio.to_thread(fresh_facts, path)
    if not facts.has_video or facts.duration <= 0:
        raise MediaCorrupt(path, "holds no video stream with a duration",
                           "it is fetched again on the next attempt")
    return facts
