"""SMPTE timecode arithmetic, so a restyled range keeps the timecode of its first frame.

Timecode counts frames at the *nominal* rate (30 for 29.97, 24 for 23.976); drop-frame
(``;`` separator, 29.97/59.94 only) skips frame numbers, never frames. Pure functions.
"""

from __future__ import annotations

import re
from fractions import Fraction

_TC = re.compile(r"^(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.])(\d{2,3})$")


class TimecodeError(ValueError):
    pass


def nominal_rate(rate: Fraction) -> int:
    """The frame count per timecode second: 30 for 30000/1001, 25 for 25."""
    return max(1, round(rate))


def parse(tc: str, rate: Fraction) -> tuple[int, bool]:
    """``"01:00:00;00"`` at 29.97 -> (frame number since 00:00:00:00, drop_frame)."""
    m = _TC.match(tc.strip())
    if not m:
        raise TimecodeError(f"not a timecode: {tc!r} (expected HH:MM:SS:FF)")
    hh, mm, ss, sep, ff = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    fps = nominal_rate(rate)
    drop = sep in (";", ".") and fps in (30, 60) and rate.denominator == 1001
    if ff >= fps or mm > 59 or ss > 59:
        raise TimecodeError(f"timecode {tc!r} is out of range at {fps} fps")
    total_minutes = hh * 60 + mm
    frames = ((hh * 3600 + mm * 60 + ss) * fps) + ff
    if drop:
        dropped = fps // 15  # 2 at 29.97, 4 at 59.94
        frames -= dropped * (total_minutes - total_minutes // 10)
    return frames, drop


def format_tc(frames: int, rate: Fraction, drop: bool = False) -> str:
    """Inverse of :func:`parse`; wraps at 24 hours like a timecode generator does."""
    fps = nominal_rate(rate)
    day = fps * 3600 * 24
    if drop:
        dropped = fps // 15
        per_10min = fps * 600 - dropped * 9
        per_min = fps * 60 - dropped
        day = per_10min * 144
        frames %= day
        tens, rem = divmod(frames, per_10min)
        if rem > dropped:
            frames += dropped * 9 * tens + dropped * ((rem - dropped) // per_min)
        else:
            frames += dropped * 9 * tens
    else:
        frames %= day
    ff = frames % fps
    ss = (frames // fps) % 60
    mm = (frames // (fps * 60)) % 60
    hh = frames // (fps * 3600)
    sep = ";" if drop else ":"
    return f"{hh:02d}:{mm:02d}:{ss:02d}{sep}{ff:02d}"


def offset(tc: str, frames: int, rate: Fraction) -> str:
    """The timecode ``frames`` frames after ``tc``, in the same (drop/non-drop) style."""
    start, drop = parse(tc, rate)
    return format_tc(start + frames, rate, drop)
