"""What a media file really holds: exact rational rate, counted frames, timecode, geometry.

Editors' clips lie in their headers often enough (``nb_frames`` missing or wrong, a field
rate in ``r_frame_rate``, phone clips that are variable-rate under a constant-rate label),
so the facts that decide a frame-exact round trip are *measured*: one demux pass over the
video packets (no decoding, constant memory) gives the frame count, the true frame
duration and whether the timing is variable.

The quicker facts a provider's rules check (headers only) and the one cache both live in
:mod:`.facts`. Bad input is refused here, before anything is planned, with a
:mod:`.errors` exception that names the file and says what to do.
"""

from __future__ import annotations

import heapq
import json
import os
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..children import child
from ..rates import snap_rate
from .errors import MediaCorrupt, NotAVideo, ToolMissing
from .facts import STILL_FORMATS, check_readable, reason, remembered, unreadable
from .run import ffprobe_bin

_STILL_CODECS = {"png", "mjpeg", "jpeg2000", "webp", "bmp", "tiff", "gif", "jpegxl", "qoi"}
_REORDER_DEPTH = 32  # B-frame reordering window when sorting packet timestamps


def _fraction(value: Any) -> Fraction | None:
    try:
        f = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return f if f > 0 else None


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int  # coded size
    height: int
    rate: Fraction  # exact frames per second the frames are spaced at (or nominal, if VFR)
    frame_count: int  # counted packets, not the header's claim
    duration: float  # seconds from first frame to the end of the last
    start_time: float  # seconds: the first frame's presentation time
    vfr: bool
    pix_fmt: str = ""
    sar: Fraction = Fraction(1)
    rotation: int = 0  # degrees, as the display matrix says (ffmpeg auto-rotates on decode)
    field_order: str = "progressive"
    bit_rate: int | None = None
    profile: str = ""

    @property
    def interlaced(self) -> bool:
        return self.field_order in ("tt", "bb", "tb", "bt")

    @property
    def frame_width(self) -> int:
        """Width of a decoded frame (ffmpeg auto-rotates, so rotation swaps the sides)."""
        return self.height if self.rotated else self.width

    @property
    def frame_height(self) -> int:
        return self.width if self.rotated else self.height

    @property
    def display_width(self) -> int:
        """Width as shown, in square pixels (anamorphic SAR applied, rotation applied)."""
        w = _even(round(self.width * self.sar)) if self.sar != 1 else self.width
        return self.height if self.rotated else w

    @property
    def display_height(self) -> int:
        w = _even(round(self.width * self.sar)) if self.sar != 1 else self.width
        return w if self.rotated else self.height

    @property
    def rotated(self) -> bool:
        return self.rotation % 180 != 0


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    channel_layout: str
    start_time: float
    duration: float | None
    sample_fmt: str = ""
    bits_per_sample: int = 0


@dataclass(frozen=True)
class MediaInfo:
    path: str
    format_name: str
    size_bytes: int
    duration: float
    start_time: float
    video: VideoInfo | None
    audio: AudioInfo | None
    timecode: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def is_still(self) -> bool:
        v = self.video
        if v is None:
            return False
        return self.format_name in STILL_FORMATS or (
            v.codec in _STILL_CODECS and v.frame_count <= 1
        )

    @property
    def container(self) -> str:
        """``mp4``/``mov``/... the way a provider's limits name it."""
        ext = Path(self.path).suffix.lower().lstrip(".")
        names = self.format_name.split(",")
        if ext in names or (ext in ("mov", "mp4", "m4v") and "mov" in names):
            return "mov" if ext == "mov" else ("mp4" if ext in ("mp4", "m4v") else ext)
        return names[0]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.video is not None:
            data["video"]["rate"] = str(self.video.rate)
            data["video"]["sar"] = str(self.video.sar)
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> MediaInfo:
        d = dict(data)
        if d.get("video"):
            v = dict(d["video"])
            v["rate"] = Fraction(v["rate"])
            v["sar"] = Fraction(v["sar"])
            d["video"] = VideoInfo(**v)
        if d.get("audio"):
            d["audio"] = AudioInfo(**d["audio"])
        return MediaInfo(**d)


def _even(n: int) -> int:
    return max(2, n - (n % 2))


@dataclass
class _PacketScan:
    """One video stream's packet timing, gathered in constant memory: a count, the ends,
    and a capped histogram of the gaps between sorted timestamps."""

    count: int = 0
    first_pts: int | None = None
    last_pts: int | None = None
    last_duration: int = 0
    deltas: Counter[int] = field(default_factory=Counter)
    irregular: int = 0
    truncated_error: str = ""
    _heap: list[int] = field(default_factory=list)  # decode order -> presentation order
    _prev: int | None = None

    def add(self, pts: int | None, duration: int | None) -> None:
        self.count += 1
        if duration is not None:
            self.last_duration = duration
        if pts is None:
            return
        self.first_pts = pts if self.first_pts is None else min(self.first_pts, pts)
        self.last_pts = pts if self.last_pts is None else max(self.last_pts, pts)
        heapq.heappush(self._heap, pts)
        if len(self._heap) > _REORDER_DEPTH:
            self._take(heapq.heappop(self._heap))

    def finish(self) -> None:
        while self._heap:
            self._take(heapq.heappop(self._heap))

    def _take(self, pts: int) -> None:
        if self._prev is not None and pts > self._prev:
            d = pts - self._prev
            if len(self.deltas) < 256 or d in self.deltas:
                self.deltas[d] += 1
        self._prev = pts


#: One video packet as ffprobe's compact JSON writes it (one packet a line, keys in
#: ffprobe's order; a missing value is left out).
_VIDEO_PACKET = re.compile(
    rb'^\s*\{ "codec_type": "video", "stream_index": (\d+)'
    rb'(?:, "pts": (-?\d+))?(?:, "duration": (-?\d+))?, "flags": "([^"]*)"')
_PACKETS_START = b'"packets": ['


class _Lines:
    """An ffprobe run read line by line from its stdout (constant memory however long the
    clip); once read, its exit code and last complaint.

    stderr goes to a file, not a pipe: a damaged file can make ffprobe write more than a pipe
    holds, and a pipe nobody reads until the end would then block both sides."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.returncode = 0
        self.detail = ""  # what ffprobe wrote on stderr (its end)

    @property
    def error(self) -> str:
        """ffprobe's last complaint ("" when it had none)."""
        return reason(self.detail) if self.detail else ""

    @property
    def failure(self) -> str:
        """What went wrong, for a message ("" when the run was clean)."""
        if self.error or self.returncode == 0:
            return self.error
        return f"ffprobe exit code {self.returncode}"

    def __iter__(self) -> Iterator[bytes]:
        try:
            with tempfile.TemporaryFile() as errors, child(
                self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
            ) as proc:
                assert proc.stdout is not None
                yield from proc.stdout
                proc.wait()
                errors.seek(max(0, errors.seek(0, os.SEEK_END) - 8192))
                self.detail = errors.read().decode("utf-8", "replace").strip()
        except FileNotFoundError as exc:  # the binary vanished between which() and exec
            raise ToolMissing(None, f"cannot start {self.args[0]}: {exc}") from exc
        self.returncode = proc.returncode


def _scan_packets(p: Path, stream_index: int) -> _PacketScan:
    """One video stream's packets in ffprobe's plainest output (one CSV line a packet): a
    second process, for an ffprobe whose JSON lines :func:`_probe_once` does not know."""
    run = _Lines([ffprobe_bin(), "-v", "error", "-select_streams", str(stream_index),
                  "-show_entries", "packet=pts,duration,flags", "-of", "csv=p=0", str(p)])
    scan = _PacketScan()
    for raw in run:
        parts = raw.decode("ascii", "replace").strip().split(",")
        if len(parts) < 3 or "D" in parts[2]:
            continue
        scan.add(int(parts[0]) if parts[0].lstrip("-").isdigit() else None,
                 int(parts[1]) if parts[1].lstrip("-").isdigit() else None)
    scan.finish()
    scan.truncated_error = run.failure
    return scan


@dataclass
class _Probed:
    data: dict[str, Any]  # ffprobe's -show_format -show_streams answer
    scans: dict[int, _PacketScan]  # video stream index -> its packets
    run: _Lines  # the process: its exit code and complaint


def _probe_once(p: Path) -> _Probed:
    """One ffprobe for everything :func:`_measure` needs: the container and streams, and a
    demux (no decode) of every packet, streamed line by line so memory stays constant
    however long the clip -- one process start instead of two for every new file.

    ffprobe writes the packets first, then the streams and format: packet lines are
    consumed as they come (only video ones kept, as counts), the rest is parsed as JSON.
    """
    run = _Lines([ffprobe_bin(), "-v", "error", "-show_format", "-show_streams",
                  "-show_entries", "packet=codec_type,stream_index,pts,duration,flags",
                  "-of", "json=compact=1", str(p)])
    scans: dict[int, _PacketScan] = {}
    kept: list[bytes] = []
    in_packets = False
    closing = b""  # the packets list's "]", indented as its opening line (side data nests)
    for raw in run:
        if in_packets:
            if raw.rstrip().rstrip(b",") == closing:
                in_packets = False
                kept.append(raw)
                continue
            m = _VIDEO_PACKET.match(raw)
            if m is None or b"D" in m[4]:  # audio, data, side data; discarded
                continue
            scan = scans.setdefault(int(m[1]), _PacketScan())
            scan.add(int(m[2]) if m[2] is not None else None,
                     int(m[3]) if m[3] is not None else None)
            continue
        if raw.strip() == _PACKETS_START:
            in_packets = True
            closing = raw[:len(raw) - len(raw.lstrip())] + b"]"
        kept.append(raw)
    for scan in scans.values():
        scan.finish()
    try:
        data: dict[str, Any] = json.loads(b"".join(kept) or b"{}")
    except ValueError:  # cut short by a crash: what it said on stderr is the story
        data = {}
    return _Probed(data, scans, run)


def _rate_and_vfr(stream: dict[str, Any], scan: _PacketScan, tb: Fraction) -> tuple[Fraction, bool]:
    r = _fraction(stream.get("r_frame_rate"))
    avg = _fraction(stream.get("avg_frame_rate"))
    measured: Fraction | None = None
    if scan.deltas:
        mode_delta, _ = scan.deltas.most_common(1)[0]
        measured = 1 / (mode_delta * tb)
        total = sum(scan.deltas.values())
        off = sum(n for d, n in scan.deltas.items()
                  if abs(d - mode_delta) > mode_delta * Fraction(1, 4))
        scan.irregular = off
        vfr = off > 0 and off >= max(1, total // 200)
    else:
        vfr = False
    candidates = [c for c in (r, avg) if c is not None and c <= 1000]
    if measured is not None:
        close = [c for c in candidates if abs(c - measured) <= measured * 3 / 100]
        rate = snap_rate(close[0] if close else measured)
    elif candidates:
        rate = snap_rate(candidates[0])
    else:
        rate = Fraction(25)
    if vfr and r is not None and r <= 240:
        rate = snap_rate(r)  # a VFR clip's nominal rate is the one editors interpret it at
    return rate, vfr


def _rotation(stream: dict[str, Any]) -> int:
    for sd in stream.get("side_data_list") or []:
        if "rotation" in sd:
            try:
                return round(float(sd["rotation"])) % 360
            except (TypeError, ValueError):
                return 0
    tag = (stream.get("tags") or {}).get("rotate")
    try:
        return int(tag) % 360 if tag is not None else 0
    except ValueError:
        return 0


def _timecode(data: dict[str, Any]) -> str | None:
    for s in data.get("streams", []):
        tc = (s.get("tags") or {}).get("timecode")
        if tc:
            return str(tc)
    tc = (data.get("format", {}).get("tags") or {}).get("timecode")
    return str(tc) if tc else None


def _float(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def probe(path: str | Path, *, require_video: bool = True) -> MediaInfo:
    """Measure ``path`` (once per version of the file: :func:`.facts.remembered`). Raises a
    :class:`MediaError` for anything an editor must fix."""
    p = check_readable(path)
    info = remembered(p, "measured", _measure)
    if info.video is None and require_video:
        raise NotAVideo(p, "is audio only (no video stream)",
                        "choose a video clip; audio files are for lip-sync dialogue")
    return info if info.path == str(p) else replace(info, path=str(p))


def _measure(p: Path) -> MediaInfo:
    """One ffprobe: the streams, and one demux pass over the packets."""
    probed = _probe_once(p)
    data = probed.data
    if probed.run.returncode != 0 and not data.get("streams"):
        raise unreadable(p, probed.run.detail)
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    vstreams = [s for s in streams if s.get("codec_type") == "video"
                and not (s.get("disposition") or {}).get("attached_pic")]
    astreams = [s for s in streams if s.get("codec_type") == "audio"]
    if not vstreams and not astreams:
        raise NotAVideo(p, "holds no video or audio stream",
                        "choose a video clip (mp4, mov, mxf, mkv...)")
    video: VideoInfo | None = None
    if vstreams:
        vs = vstreams[0]
        tb = _fraction(vs.get("time_base")) or Fraction(1, 90000)
        index = int(vs["index"])
        scan = probed.scans.get(index)
        if scan is None and not probed.run.failure:
            # ffprobe answered but no packet line read as this one's build writes them
            # (another version's JSON layout?): ask for the packets alone, as CSV
            scan = _scan_packets(p, index)
        elif scan is None:
            scan = _PacketScan()
        if probed.run.failure:
            scan.truncated_error = probed.run.failure
        if scan.count == 0:
            raise MediaCorrupt(p, "has a video stream but no frames could be read",
                               "the file is truncated or damaged: copy or export it again")
        if scan.truncated_error and fmt.get("format_name", "") not in STILL_FORMATS:
            raise MediaCorrupt(p, f"is damaged ({scan.truncated_error})",
                               "the file is truncated or damaged: copy or export it again")
        rate, vfr = _rate_and_vfr(vs, scan, tb)
        if scan.first_pts is not None and scan.last_pts is not None:
            last = scan.last_duration or (1 / (rate * tb))
            vdur = float((scan.last_pts - scan.first_pts + last) * tb)
            vstart = float(scan.first_pts * tb)
        else:
            vdur = _float(vs.get("duration"), _float(fmt.get("duration")))
            vstart = _float(vs.get("start_time"))
        sar = _fraction(vs.get("sample_aspect_ratio", "1:1").replace(":", "/")) or Fraction(1)
        video = VideoInfo(
            codec=str(vs.get("codec_name", "")),
            width=int(vs.get("width") or 0),
            height=int(vs.get("height") or 0),
            rate=rate,
            frame_count=scan.count,
            duration=vdur,
            start_time=vstart,
            vfr=vfr,
            pix_fmt=str(vs.get("pix_fmt", "")),
            sar=sar,
            rotation=_rotation(vs),
            field_order=str(vs.get("field_order") or "progressive"),
            bit_rate=int(vs["bit_rate"]) if str(vs.get("bit_rate", "")).isdigit() else None,
            profile=str(vs.get("profile", "")),
        )
        if video.width <= 0 or video.height <= 0:
            raise MediaCorrupt(p, "video stream has no picture size",
                               "the file is damaged: copy or export it again")
    audio: AudioInfo | None = None
    if astreams:
        a = astreams[0]
        adur = a.get("duration")
        audio = AudioInfo(
            codec=str(a.get("codec_name", "")),
            sample_rate=int(a.get("sample_rate") or 48000),
            channels=int(a.get("channels") or 2),
            channel_layout=str(a.get("channel_layout") or ""),
            start_time=_float(a.get("start_time")),
            duration=_float(adur) if adur is not None else None,
            sample_fmt=str(a.get("sample_fmt", "")),
            bits_per_sample=int(a.get("bits_per_raw_sample") or a.get("bits_per_sample") or 0),
        )
    return MediaInfo(
        path=str(p),
        format_name=str(fmt.get("format_name", "")),
        size_bytes=int(fmt.get("size") or p.stat().st_size),
        duration=_float(fmt.get("duration"), video.duration if video else 0.0),
        start_time=_float(fmt.get("start_time")),
        video=video,
        audio=audio,
        timecode=_timecode(data),
        tags={str(k): str(v) for k, v in (fmt.get("tags") or {}).items()},
    )


def require_motion_video(info: MediaInfo) -> VideoInfo:
    """The video facts of a clip that must move (restyle sources), or a clear refusal."""
    if info.video is None:
        raise NotAVideo(info.path, "is audio only (no video stream)",
                        "choose a video clip; audio files are for lip-sync dialogue")
    if info.is_still:
        raise NotAVideo(info.path, "is a still image, not a video clip",
                        "restyle needs a clip; use generate (image to video) for stills")
    return info.video
