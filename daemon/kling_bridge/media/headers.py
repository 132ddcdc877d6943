"""The facts a file's headers state (what a provider's input rules check), read in-process.

Every paid task is validated just before it is sent, while other jobs' ffmpeg encodes may
hold every core: an ffprobe subprocess costs a tenth of a CPU-second to start and, under
that load, seconds of wall time per job -- most of the bridge's own share of a job
(bench/overhead.py). The inputs it sees are nearly always files the media pipeline has just
written -- MP4 (ISO BMFF) segments, PNG or JPEG stills -- whose headers say everything the
rules check in microseconds.

Only what is certain is answered: an MP4 without a complete ``moov`` (fragmented, still
being written, damaged), a 64-bit or zero-length box where one is not expected, a track
without samples, or any other format gives ``None`` and the caller asks ffprobe, which
stays the authority. The numbers follow ffprobe's own definitions (container duration from
``mvhd``, average frame rate as samples over the summed ``stts`` durations, coded size from
the sample entry), so either path feeds the rules the same facts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class MediaFacts:
    """What a file's headers say (as ffprobe reports them): only what input rules need.

    Not :class:`~.probe.MediaInfo`: these are the container's claims, read in microseconds,
    not frames counted by a pass over the packets."""

    path: Path
    size_bytes: int
    format_name: str = ""
    codec: str = ""  # first video (or audio) stream's codec
    width: int = 0
    height: int = 0
    fps: float = 0.0
    duration: float = 0.0
    has_video: bool = False
    has_audio: bool = False


#: ffprobe's format name for every ISO BMFF file (mp4, mov, m4a, 3gp...).
ISO_FORMAT = "mov,mp4,m4a,3gp,3g2,mj2"
_MOOV_MAX = 64 * 1024 * 1024  # a moov larger than this is read by ffprobe instead
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_TOP_LEVEL = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"pnot",
              b"meta", b"styp", b"sidx", b"pdin", b"moof", b"mfra"}
#: Sample entry four-character codes -> ffprobe codec names (others pass through as-is).
_CODECS = {
    b"avc1": "h264", b"avc3": "h264", b"hvc1": "hevc", b"hev1": "hevc", b"mp4v": "mpeg4",
    b"av01": "av1", b"vp09": "vp9", b"apch": "prores", b"apcn": "prores", b"apcs": "prores",
    b"apco": "prores", b"ap4h": "prores", b"ap4x": "prores", b"jpeg": "mjpeg",
    b"mp4a": "aac", b"lpcm": "pcm", b"sowt": "pcm_s16le", b"twos": "pcm_s16be",
    b"in24": "pcm_s24", b"fl32": "pcm_f32", b"ac-3": "ac3", b"ec-3": "eac3", b"Opus": "opus",
    b"alac": "alac", b".mp3": "mp3",
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class _Unsure(Exception):
    """The headers do not settle it: let ffprobe answer."""


@dataclass
class _Track:
    handler: bytes = b""
    timescale: int = 0
    duration: int = 0
    codec: bytes = b""
    entry: bytes = b""  # the first sample entry (a visual one holds the coded size)
    samples: int = 0
    sample_time: int = 0  # sum of stts deltas, in ``timescale`` units


@dataclass
class _Movie:
    timescale: int = 0
    duration: int = 0
    tracks: list[_Track] = field(default_factory=list)


def read_facts(path: Path, size: int) -> MediaFacts | None:
    """Facts of ``path`` from its headers, or ``None`` when only ffprobe can tell."""
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
            if head.startswith(_PNG_SIGNATURE):
                return _png(path, size, head + fh.read(16))
            if head.startswith(b"\xff\xd8"):
                fh.seek(0)
                return _jpeg(path, size, fh.read(min(size, 1 << 20)))
            if len(head) >= 8 and head[4:8] in _TOP_LEVEL:
                return _iso(path, size, fh)
    except (OSError, _Unsure, struct.error, IndexError, ValueError):
        return None
    return None


# --------------------------------------------------------------------------- ISO BMFF


def _iso(path: Path, size: int, fh: BinaryIO) -> MediaFacts:
    moov = _find_moov(fh, size)
    movie = _Movie()
    _walk(moov, 0, len(moov), movie, None)
    if movie.timescale <= 0 or movie.duration <= 0:
        raise _Unsure("no movie duration (fragmented or unfinished)")
    video = next((t for t in movie.tracks if t.handler == b"vide"), None)
    audio = next((t for t in movie.tracks if t.handler == b"soun"), None)
    fps = 0.0
    width = height = 0
    if video is not None:
        if video.samples <= 0 or video.sample_time <= 0 or video.timescale <= 0:
            raise _Unsure("video track without samples")
        if len(video.entry) < 36:
            raise _Unsure("video sample entry too short")
        width, height = struct.unpack_from(">HH", video.entry, 32)
        if width <= 0 or height <= 0:
            raise _Unsure("video track without a size")
        fps = video.samples * video.timescale / video.sample_time
    first = video or audio
    return MediaFacts(
        path=path,
        size_bytes=size,
        format_name=ISO_FORMAT,
        codec=_CODECS.get(first.codec, first.codec.decode("latin-1")) if first else "",
        width=width,
        height=height,
        fps=fps,
        duration=movie.duration / movie.timescale,
        has_video=video is not None,
        has_audio=audio is not None,
    )


def _find_moov(fh: BinaryIO, size: int) -> bytes:
    """The ``moov`` box's payload, skipping ``mdat`` and friends by seeking past them."""
    read, seek = fh.read, fh.seek
    pos = 0
    while pos + 8 <= size:
        seek(pos)
        header = read(16)
        box_size, kind = struct.unpack(">I4s", header[:8])
        start = 8
        if box_size == 1:
            box_size = struct.unpack(">Q", header[8:16])[0]
            start = 16
        elif box_size == 0:
            box_size = size - pos
        if box_size < start or pos + box_size > size:
            raise _Unsure("box runs past the end of the file")
        if kind == b"moov":
            if box_size > _MOOV_MAX:
                raise _Unsure("moov too large to read here")
            seek(pos + start)
            data: bytes = read(box_size - start)
            if len(data) != box_size - start:
                raise _Unsure("short read")
            return data
        if kind == b"moof":
            raise _Unsure("fragmented file")
        if kind not in _TOP_LEVEL:
            raise _Unsure(f"unknown top-level box {kind!r}")
        pos += box_size
    raise _Unsure("no moov box")


def _walk(data: bytes, pos: int, end: int, movie: _Movie, track: _Track | None) -> None:
    while pos + 8 <= end:
        box_size, kind = struct.unpack_from(">I4s", data, pos)
        start = pos + 8
        if box_size == 1:
            box_size = struct.unpack_from(">Q", data, pos + 8)[0]
            start = pos + 16
        elif box_size == 0:
            box_size = end - pos
        stop = pos + box_size
        if box_size < 8 or stop > end:
            raise _Unsure("malformed box")
        if kind == b"trak":
            track = _Track()
            movie.tracks.append(track)
            _walk(data, start, stop, movie, track)
        elif kind in _CONTAINERS:
            _walk(data, start, stop, movie, track)
        elif kind == b"mvhd":
            movie.timescale, movie.duration = _times(data, start)
        elif track is not None:
            _leaf(kind, data, start, track)
        pos = stop


def _times(data: bytes, start: int) -> tuple[int, int]:
    """(timescale, duration) of an ``mvhd`` or ``mdhd`` (version 0 or 1)."""
    if data[start] == 1:
        timescale, duration = struct.unpack_from(">IQ", data, start + 20)
    else:
        timescale, duration = struct.unpack_from(">II", data, start + 12)
    if duration in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        raise _Unsure("unknown duration")
    return int(timescale), int(duration)


def _leaf(kind: bytes, data: bytes, start: int, track: _Track) -> None:
    if kind == b"mdhd":
        track.timescale, track.duration = _times(data, start)
    elif kind == b"hdlr":
        # QuickTime puts a second, data-reference hdlr ("dhlr") inside minf: not the media's.
        if not track.handler and data[start + 4:start + 8] != b"dhlr":
            track.handler = data[start + 8:start + 12]
    elif kind == b"stsd":
        if struct.unpack_from(">I", data, start + 4)[0] < 1:
            raise _Unsure("empty sample description")
        entry = start + 8
        track.codec = data[entry + 4:entry + 8]
        track.entry = data[entry:entry + 36]
    elif kind == b"stts":
        count = struct.unpack_from(">I", data, start + 4)[0]
        samples = sample_time = 0
        for i in range(count):
            n, delta = struct.unpack_from(">II", data, start + 8 + 8 * i)
            samples += n
            sample_time += n * delta
        track.samples, track.sample_time = samples, sample_time


# --------------------------------------------------------------------------- stills


def _still(path: Path, size: int, fmt: str, codec: str, width: int, height: int
           ) -> MediaFacts:
    if width <= 0 or height <= 0:
        raise _Unsure("no picture size")
    return MediaFacts(path=path, size_bytes=size, format_name=fmt, codec=codec,
                      width=width, height=height)


def _png(path: Path, size: int, head: bytes) -> MediaFacts:
    if head[12:16] != b"IHDR":
        raise _Unsure("PNG without IHDR first")
    width, height = struct.unpack_from(">II", head, 16)
    return _still(path, size, "png_pipe", "png", width, height)


def _jpeg(path: Path, size: int, data: bytes) -> MediaFacts:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise _Unsure("not a JPEG marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return _still(path, size, "jpeg_pipe", "mjpeg", width, height)
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            break
        pos += 2 + length
    raise _Unsure("no JPEG frame header")
