"""What Resolve learns about a media file when it imports it (via ffprobe here).

Resolve reports a clip's rate rounded ("23.976", "29.97"), its frame count, its start
timecode and its file path as clip properties; the fake reads the same facts from the file.
"""

import json
import os
import subprocess
from fractions import Fraction
from typing import Any, Dict, Optional, Tuple  # noqa: F401

NTSC = (24, 30, 48, 60, 120)


def rounded_rate(rate):
    # type: (Fraction) -> str
    """The rate as Resolve prints it: 23.976, 29.97, 25 -- rounded, never exact."""
    value = float(rate)
    text = "%.3f" % value
    text = text.rstrip("0").rstrip(".")
    if any(abs(value - b * 1000.0 / 1001.0) < 1e-6 for b in NTSC):
        text = "%.3f" % value if round(value * 1000) % 10 else "%.2f" % value
    return text


def exact(text):
    # type: (Any) -> Fraction
    value = float(str(text).split()[0])
    for base in NTSC:
        if abs(value - base * 1000.0 / 1001.0) < 0.02:
            return Fraction(base * 1000, 1001)
    if abs(value - round(value)) < 0.02:
        return Fraction(round(value))
    return Fraction(value).limit_denominator(1001)


def timecode_frames(timecode, rate):
    # type: (str, Fraction) -> int
    parts = [int(p) for p in timecode.replace(";", ":").split(":")]
    nominal = round(rate)
    total = ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * nominal + parts[3]
    if ";" in timecode and rate.denominator == 1001:
        minutes = parts[0] * 60 + parts[1]
        total -= (2 * nominal // 30) * (minutes - minutes // 10)
    return total


def frames_timecode(frames, rate, drop=False):
    # type: (int, Fraction, bool) -> str
    nominal = round(rate)
    if drop and rate.denominator == 1001:
        per = 2 * nominal // 30
        ten = nominal * 600 - per * 9
        minute = nominal * 60 - per
        tens, rest = divmod(frames, ten)
        frames += per * 9 * tens + (per * ((rest - per) // minute) if rest > per else 0)
    sep = ";" if drop else ":"
    seconds = frames // nominal
    return "%02d:%02d:%02d%s%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60, sep,
                                     frames % nominal)


#: What was read, per file version (path as given, size, mtime): Resolve reads a file once too, and
#: the tests import the same camera clips into a new project over and over (an ffprobe
#: start is ~75 ms of CPU). A file written again is read again.
_READ = {}  # type: Dict[Tuple[str, int, int], Optional[Dict[str, Any]]]


def probe(path):
    # type: (str) -> Optional[Dict[str, Any]]
    """Clip properties for ``path`` (None when it is not a media file Resolve would take)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _READ:
        _READ[key] = _read(path)
    found = _READ[key]
    return None if found is None else dict(found)


def _read(path):
    # type: (str) -> Optional[Dict[str, Any]]
    command = ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
               "stream=codec_type,r_frame_rate,nb_read_packets,width,height"
               ":stream_tags=timecode:format_tags=timecode", "-of", "json", path]
    try:
        data = json.loads(subprocess.check_output(command).decode("utf-8"))
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None
    video = [s for s in data.get("streams", []) if s.get("codec_type") == "video"]
    audio = [s for s in data.get("streams", []) if s.get("codec_type") == "audio"]
    if not video:
        return None
    stream = video[0]
    rate = Fraction(stream["r_frame_rate"])
    frames = int(stream.get("nb_read_packets") or 0)
    timecode = ((stream.get("tags") or {}).get("timecode")
                or (data.get("format", {}).get("tags") or {}).get("timecode"))
    for other in data.get("streams", []):
        timecode = timecode or (other.get("tags") or {}).get("timecode")
    timecode = timecode or "00:00:00:00"
    start = timecode_frames(timecode, rate)
    return {
        "File Path": path,
        "File Name": os.path.basename(path),
        "Clip Name": os.path.basename(path),
        "FPS": float(rounded_rate(rate)),
        "Frames": str(frames),
        "Start TC": timecode,
        "End TC": frames_timecode(start + frames, rate, ";" in timecode),
        "Duration": frames_timecode(frames, rate),
        "Resolution": "%sx%s" % (stream.get("width"), stream.get("height")),
        "Type": "Video + Audio" if audio else "Video",
        "Audio Ch": "2" if audio else "0",
        "_rate": "%d/%d" % (rate.numerator, rate.denominator),
        "_start": start,
        "_audio": bool(audio),
    }
