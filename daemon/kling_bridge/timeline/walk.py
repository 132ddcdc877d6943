"""Walking a timeline the way selection and results both need it: items with their record
frames, the bridge's metadata, and the ids clips are known by between the two."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from fractions import Fraction
from functools import lru_cache
from typing import Any

import opentimelineio as otio

from kling_bridge.timeline.rates import exact_rate

KEY = "kling_bridge"


def clip_id(item: Any, track_number: int, index: int, meta: Any = False) -> str:
    """The plugin's id for a clip when it gave one, else its place (``v2-5``)."""
    meta = bridge_meta(item) if meta is False else meta
    if isinstance(meta, Mapping) and meta.get("clip_id"):
        return str(meta["clip_id"])
    return f"v{track_number}-{index}"


def bridge_meta(item: Any) -> Any:
    """``item.metadata["kling_bridge"]`` or None.

    OTIO's metadata dictionary answers a missing key by raising a C++ KeyError (about 20 us a
    time), which over thousands of clips costs more than reading the file: empty
    dictionaries are answered from their length, and each item is asked once.
    """
    metadata = getattr(item, "metadata", None)
    if metadata is None or not len(metadata):
        return None
    try:
        return metadata[KEY]
    except KeyError:
        return None


def items(
    timeline: otio.schema.Timeline, rate: Fraction
) -> Iterator[tuple[str, int, int, otio.schema.Track, Any, int, int]]:
    """(kind, 1-based number within its kind, index, track, item, record start, length)."""
    numbers = {otio.schema.TrackKind.Video: 0, otio.schema.TrackKind.Audio: 0}
    for track in timeline.tracks:
        if not isinstance(track, otio.schema.Track):
            continue
        numbers[track.kind] = numbers.get(track.kind, 0) + 1
        position = 0  # frames at the timeline rate: editors cut on whole frames
        for index, item in enumerate(track):
            if isinstance(item, otio.schema.Transition):
                continue
            begin = position
            position += frames(item.duration(), rate)
            if isinstance(item, otio.schema.Gap):
                continue
            yield (track.kind, numbers[track.kind], index, track, item, begin,
                   position - begin)


def name(item: Any) -> str:
    return str(item.name) or "<unnamed>"


def frames(time: otio.opentime.RationalTime, rate: Fraction) -> int:
    """Whole frames of ``time`` at ``rate`` (a fast path when the rates already agree)."""
    if time.rate == _as_float(rate):
        value: float = time.value
        return round(value)
    return round(Fraction(time.value).limit_denominator(1000) * rate / exact_rate(time.rate))


@lru_cache(maxsize=64)
def _as_float(rate: Fraction) -> float:
    return float(rate)
