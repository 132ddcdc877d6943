"""Frame rates and timecode the way Resolve hands them over (pure; Python 3.6 syntax).

Resolve gives the timeline rate as a rounded number (``GetSetting("timelineFrameRate")`` says
"23.976" or "29.97", sometimes with " DF") and the playhead as a timecode string, while every
frame number it takes and returns is a whole frame counted from 00:00:00:00 at that rate
(01:00:00:00 at 24 fps is frame 86400). The bridge needs the exact rate (24000/1001, not
23.976) to ask the daemon for results that land frame for frame, and drop-frame timecode to
find the playhead on 29.97 DF timelines.
"""

import math
from fractions import Fraction
from typing import Optional, Union  # noqa: F401 (type comments)

NTSC_BASES = (24, 30, 48, 60, 120)


def exact_rate(value):
    # type: (Union[str, float, int, Fraction]) -> Fraction
    """'23.976', '29.97 DF', 25, 23.976023976 -> the exact rate (24000/1001, 25, ...)."""
    if isinstance(value, Fraction):
        return value
    text = str(value).strip().upper()
    for word in ("NDF", "DF", "FPS"):
        text = text.replace(word, "")
    text = text.strip()
    if "/" in text:
        return Fraction(text)
    try:
        number = float(text)
    except ValueError:
        raise ValueError("cannot read %r as a frame rate" % (value,)) from None
    if number <= 0:
        raise ValueError("frame rate %r is not positive" % (value,))
    for base in NTSC_BASES:
        if abs(number - base * 1000.0 / 1001.0) < 0.02:
            return Fraction(base * 1000, 1001)
    if abs(number - round(number)) < 0.02:
        return Fraction(round(number))
    return Fraction(number).limit_denominator(1001)


def refine_rate(rate, exported):
    # type: (Fraction, Optional[float]) -> Fraction
    """Prefer the export's float (exact to 1e-9) when Resolve's text was rounded to whole.

    A timeline at 23.976 whose setting reads "24" exports ``rate: 23.976023976023978``.
    """
    if exported is None:
        return rate
    better = exact_rate(exported)
    return better if abs(float(better) - float(rate)) < 0.1 else rate


def rate_text(rate):
    # type: (Fraction) -> str
    """'24', '30000/1001': how the daemon's API spells an exact rate."""
    rate = exact_rate(rate)
    if rate.denominator == 1:
        return str(rate.numerator)
    return "%d/%d" % (rate.numerator, rate.denominator)


def is_drop_frame(setting_text, timecode=""):
    # type: (str, str) -> bool
    return "DF" in str(setting_text).upper().replace("NDF", "") or ";" in timecode


def _drop_per_minute(nominal):
    # type: (int) -> int
    return 2 * nominal // 30


def timecode_to_frames(timecode, rate, drop=None):
    # type: (str, Fraction, Optional[bool]) -> int
    """'01:00:00:00' -> 86400 at 24 fps; ';' (or ``drop``) reads drop-frame timecode."""
    text = str(timecode).strip()
    parts = text.replace(";", ":").replace(".", ":").split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError("cannot read %r as a timecode (HH:MM:SS:FF)" % (timecode,))
    hours, minutes, seconds, frames = (int(p) for p in parts)
    nominal = round(exact_rate(rate))
    total = ((hours * 60 + minutes) * 60 + seconds) * nominal + frames
    if drop is None:
        drop = ";" in text
    if drop and exact_rate(rate).denominator == 1001:
        minutes_total = hours * 60 + minutes
        total -= _drop_per_minute(nominal) * (minutes_total - minutes_total // 10)
    return total


def frames_to_timecode(frame, rate, drop=False):
    # type: (int, Fraction, bool) -> str
    """86400 -> '01:00:00:00' at 24 fps (drop-frame with ';' when ``drop``)."""
    nominal = round(exact_rate(rate))
    frame = int(frame)
    if drop and exact_rate(rate).denominator == 1001:
        per = _drop_per_minute(nominal)
        ten_minutes = nominal * 600 - per * 9
        minute = nominal * 60 - per
        tens, rest = divmod(frame, ten_minutes)
        if rest > per:
            frame += per * 9 * tens + per * ((rest - per) // minute)
        else:
            frame += per * 9 * tens
    frames = frame % nominal
    seconds = frame // nominal
    sep = ";" if drop else ":"
    return "%02d:%02d:%02d%s%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60, sep,
                                     frames)


def convert(frames, from_rate, to_rate):
    # type: (int, Fraction, Fraction) -> int
    """Whole frames at ``from_rate`` -> the nearest whole frames at ``to_rate``."""
    return round(Fraction(frames) * exact_rate(to_rate) / exact_rate(from_rate))


# ------------------------------------------------------------------ media at another rate
#
# Resolve plays media whose rate differs from the timeline's in real time (25 fps media on a
# 24 fps timeline drops a frame a second), and when it lays media on the timeline -- an
# append, a take -- it counts the media's frames onto the timeline's grid rounding *down*
# (measured: 24 frames of 25 fps media fill 23 timeline frames). So a result must hold
# enough of the media's frames to cover its item, and a clip on a track can only be as long
# as some whole number of media frames rounds down to.


def media_count(duration, rate, media_rate):
    # type: (int, Fraction, Fraction) -> int
    """Media frames that cover ``duration`` timeline frames: the fewest whose length,
    rounded down onto the timeline grid, is not shorter than the item."""
    if media_rate == rate:
        return duration
    return math.ceil(Fraction(duration) * exact_rate(media_rate) / exact_rate(rate))


def on_timeline(count, rate, media_rate):
    # type: (int, Fraction, Fraction) -> int
    """Timeline frames ``count`` media frames fill when Resolve lays them down."""
    if media_rate == rate:
        return count
    return math.floor(Fraction(count) * exact_rate(rate) / exact_rate(media_rate))
