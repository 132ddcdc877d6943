"""Frame rates and frame counts, exact.

Adapters hand back rates as floats written every which way (``23.976``, ``23.98``,
``23.976023976023978``, ``29.97``); frame maths on those drifts by a frame an hour. Every rate
the timeline layer uses goes through :func:`exact_rate` (a :class:`~fractions.Fraction`) or
:func:`snap_rate` (the float OTIO itself uses for that SMPTE rate), and every count through
:func:`frames`, which rounds instead of truncating.

Which standard rate a float stands for is :mod:`kling_bridge.rates`' one rule (the media layer
and request specs use it too); here it is only given the float type OTIO works in.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import opentimelineio as otio

from ..rates import snap_rate as snap_rate_exact
from ..rates import standard_rate


@lru_cache(maxsize=256)
def snap_rate(rate: float) -> float:
    """The float OTIO uses for the standard rate ``rate`` stands for, or ``rate`` unchanged."""
    standard = standard_rate(Fraction(rate)) if rate > 0 else None
    return float(standard) if standard is not None else rate


# Rates come as floats (OTIO), Fractions and text: ``typed`` keeps 25.0 and Fraction(25)
# apart in the caches. Equal, they would share an entry, but every look-up of one would
# compare it with the other through Fraction's own ``==`` (about 10 us).
@lru_cache(maxsize=256, typed=True)
def exact_rate(rate: float | Fraction | str) -> Fraction:
    """``23.976`` -> ``Fraction(24000, 1001)``; ``25.0`` -> ``Fraction(25)``."""
    if isinstance(rate, str):
        rate = Fraction(rate)
    if isinstance(rate, Fraction):
        if rate.denominator in (1, 1001):
            return rate
        rate = float(rate)
    return snap_rate_exact(Fraction(float(rate)))


def rate_text(rate: float | Fraction | str) -> str:
    """Exact rate as ``kling_bridge.specs`` stores it: ``"24000/1001"``, ``"25"``."""
    value = exact_rate(rate)
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


def frames(time: otio.opentime.RationalTime, rate: float | Fraction) -> int:
    """Whole frames of ``time`` at ``rate`` (nearest; adapters' floats are off by 1e-9)."""
    target = exact_rate(rate)
    source = exact_rate(time.rate)
    value = Fraction(time.value).limit_denominator(1000) if time.value % 1 else Fraction(
        int(time.value)
    )
    return round(value * target / source)


class FrameCounter:
    """Counts OTIO times in whole frames of one rate: ``at_24(clip.duration())``.

    Nearly every time in a timeline is already at the rate it is counted in (a clip's at its
    track's, a media range at its file's): that is a rounding of its value. Any other time
    is converted exactly by :func:`frames`. A counter is made once per rate
    (:func:`frame_counter`), since OTIO holds rates as floats and the comparison needs one.
    """

    __slots__ = ("fps", "rate", "text")

    def __init__(self, rate: Fraction) -> None:
        self.rate = rate
        self.fps = float(rate)  # the float OTIO holds for this rate
        self.text = rate_text(rate)

    def __call__(self, time: otio.opentime.RationalTime) -> int:
        if time.rate == self.fps:
            value: float = time.value
            return round(value)
        return frames(time, self.rate)

    def span(self, time_range: otio.opentime.TimeRange) -> tuple[int, int]:
        """A range's start and duration counted at once (as two calls would count them)."""
        start, duration = time_range.start_time, time_range.duration
        fps = self.fps
        first: float = start.value
        length: float = duration.value
        return (round(first) if start.rate == fps else frames(start, self.rate),
                round(length) if duration.rate == fps else frames(duration, self.rate))


@lru_cache(maxsize=64, typed=True)
def frame_counter(rate: float | Fraction | str) -> FrameCounter:
    """The :class:`FrameCounter` of ``rate`` (any spelling; snapped to the exact rate)."""
    return FrameCounter(exact_rate(rate))


def rational(count: int, rate: float | Fraction) -> otio.opentime.RationalTime:
    """``count`` frames at ``rate`` as the RationalTime OTIO expects (snapped float rate)."""
    return otio.opentime.RationalTime(count, float(exact_rate(rate)))


def is_drop_frame_rate(rate: float | Fraction) -> bool:
    """29.97 and 59.94 (the rates that have a drop-frame timecode)."""
    return exact_rate(rate) in (Fraction(30000, 1001), Fraction(60000, 1001))


def timeline_rate(timeline: otio.schema.Timeline) -> Fraction:
    """The timeline's edit rate: its start time's, else the rate most of its items use."""
    start = timeline.global_start_time
    if start is not None and start.rate > 0:
        return exact_rate(start.rate)
    counts: dict[float, int] = {}
    for track in timeline.tracks:
        for item in list(track)[:200]:
            rng = getattr(item, "source_range", None)
            if rng is not None:
                counts[rng.duration.rate] = counts.get(rng.duration.rate, 0) + 1
    if counts:
        return exact_rate(max(counts, key=lambda r: counts[r]))
    return Fraction(24)
