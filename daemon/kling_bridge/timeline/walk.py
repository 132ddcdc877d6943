"""Walking a timeline the way selection and results both need it: items with their record
frames, the bridge's metadata, and the ids clips are known by between the two.

OpenTimelineIO's Python binding answers a missing dictionary key, and the end of every
iteration over one of its containers (``for effect in clip.effects``, ``for key in
metadata``), by raising a C++ exception that costs about 25 us -- more than everything
else the bridge asks of a clip. Over a 5,000-clip cut that is most of the time, so the
helpers here never run off the end of an OTIO container: they count first (``len`` is
cheap) and take exactly that many items.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from kling_bridge.timeline.rates import exact_rate

KEY = "kling_bridge"


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Selecting from or adding to a 5,000-clip cut allocates tens of thousands of small
    objects that all live on (job specs, result tracks): the cyclic collector would scan
    them again and again and find nothing to free. It is off for the length of the walk
    (nothing built here holds a cycle) and back on after, as it was."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def clip_id(item: Any, track_number: int, index: int, meta: Any = False) -> str:
    """The plugin's id for a clip when it gave one, else its place (``v2-5``)."""
    meta = bridge_meta(item) if meta is False else meta
    if isinstance(meta, Mapping) and meta.get("clip_id"):
        return str(meta["clip_id"])
    return f"v{track_number}-{index}"


def listed(container: Any) -> list[Any]:
    """``list(container)`` for an OTIO vector, dictionary or composition, without the
    exception that ends an iteration over it (see the module doc)."""
    count = len(container)
    if not count:
        return []
    walker = iter(container)
    return [next(walker) for _ in range(count)]


def meta_value(metadata: Any, key: str) -> Any:
    """``metadata[key]``, or None when it is missing (without OTIO's KeyError)."""
    if metadata is None:
        return None
    count = len(metadata)
    if not count:
        return None
    keys = iter(metadata)
    for _ in range(count):
        if next(keys) == key:
            return metadata[key]
    return None


def bridge_meta(item: Any) -> Any:
    """``item.metadata["kling_bridge"]`` or None (each item is asked once per walk)."""
    return meta_value(getattr(item, "metadata", None), KEY)


def items(
    timeline: otio.schema.Timeline, rate: Fraction
) -> Iterator[tuple[str, int, int, otio.schema.Track, Any, int, int]]:
    """(kind, 1-based number within its kind, index, track, item, record start, length)."""
    numbers = {otio.schema.TrackKind.Video: 0, otio.schema.TrackKind.Audio: 0}
    for track in listed(timeline.tracks):
        if not isinstance(track, otio.schema.Track):
            continue
        numbers[track.kind] = numbers.get(track.kind, 0) + 1
        position = 0  # frames at the timeline rate: editors cut on whole frames
        for index, item in enumerate(listed(track)):
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


_last_rate: tuple[Fraction | None, float] = (None, 0.0)  # a walk asks about one rate


def frames(time: otio.opentime.RationalTime, rate: Fraction) -> int:
    """Whole frames of ``time`` at ``rate`` (a fast path when the rates already agree)."""
    global _last_rate
    last = _last_rate
    if last[0] is rate:
        as_float = last[1]
    else:
        as_float = rate.numerator / rate.denominator
        _last_rate = (rate, as_float)
    time_rate: float = time.rate
    if time_rate == as_float:
        value: float = time.value
        return round(value)
    return round(Fraction(time.value).limit_denominator(1000) * rate / exact_rate(time_rate))
