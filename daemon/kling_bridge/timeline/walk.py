"""Walking a timeline the way selection, prompts and results need it: every item with where
it plays, in whole frames, and the bridge's metadata on it.

Plain OpenTimelineIO, with one exception that ``bench/timeline.py`` measured: reading an
OTIO metadata dictionary. Its ``get`` answers a missing key by raising ``KeyError`` through
C++ (pybind11), which costs about 20 us -- more than everything else the bridge asks of a
clip -- and the bridge asks every clip for keys most clips lack (``kling_bridge``,
``cannot_restyle``). Reading the keys by count instead (:func:`metadata_get`) halves the
selection of a 5,000-clip cut. ``tests/timeline/test_fast_paths.py`` checks it answers what
``get`` answers, and runs the whole selection both ways on the editors' samples and on
generated timelines.

For the same reason an item's own small lists (its markers, its effects) are read as a
slice (``item.markers[:]``, by index), or not at all when empty, rather than iterated: an
iteration over an OTIO list ends with a C++ ``StopIteration`` of the same cost, paid for
every clip even when the list is empty. Tracks and the timeline's stack are iterated as
usual (once each).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from fractions import Fraction
from itertools import islice
from typing import Any, NamedTuple

import opentimelineio as otio

from kling_bridge.timeline.rates import frame_counter

KEY = "kling_bridge"


class Placed(NamedTuple):
    """An item of a track and where it plays: ``start`` and ``length`` in whole frames of
    the timeline's rate, counted from the timeline's start."""

    kind: str  # the track's kind: "Video" or "Audio"
    number: int  # the track's 1-based number among the tracks of its kind (V2 -> 2)
    item_index: int  # the item's index in its track
    track: otio.schema.Track
    item: Any  # a Clip, or a Stack (a nested compound)
    start: int
    length: int


def placed_items(timeline: otio.schema.Timeline, rate: Fraction) -> Iterator[Placed]:
    """Every item of every track that shows something (gaps and transitions left out), in
    track order, with where it plays at ``rate``.

    A track plays its items one after another (a transition overlaps its neighbours and
    moves nothing), each for its duration rounded to whole frames: editors cut on frames.
    (OTIO's ``range_in_parent`` makes the same sum for one item, so asking it of every item
    would take time quadratic in the track's length; ``tests/timeline/reference.py`` does
    that, and the tests compare.)
    """
    at_rate = frame_counter(rate)
    transition, gap = otio.schema.Transition, otio.schema.Gap  # looked up once, not per item
    numbers: Counter[str] = Counter()
    for track in timeline.tracks:
        if not isinstance(track, otio.schema.Track):
            continue
        kind = track.kind
        numbers[kind] += 1
        number = numbers[kind]
        position = 0
        for index, item in enumerate(track):
            if isinstance(item, transition):
                continue
            start = position
            position += at_rate(item.duration())
            if not isinstance(item, gap):
                yield Placed(kind, number, index, track, item, start, position - start)


def metadata_get(metadata: Any, key: str) -> Any:
    """``metadata.get(key)`` for an OTIO metadata dictionary (None when it has no such key),
    without the exception OTIO raises for a missing key (see the module doc)."""
    count = len(metadata) if metadata is not None else 0
    if not count:
        return None
    return metadata[key] if key in islice(metadata, count) else None


def bridge_meta(item: Any) -> dict[str, Any]:
    """What the bridge keeps on an item (``metadata["kling_bridge"]``) as a plain dict: the
    plugin's mark and clip id, what the reader found, a result's provenance ({} if none)."""
    meta = metadata_get(getattr(item, "metadata", None), KEY)
    if meta is None or not isinstance(meta, Mapping):  # None: most items (a quick look)
        return {}
    return {key: meta[key] for key in islice(meta, len(meta))}


def clip_id(meta: Mapping[str, Any], track_number: int, index: int) -> str:
    """The plugin's id for a clip when it gave one (in ``meta``, the item's
    :func:`bridge_meta`), else its place (``v2-5``)."""
    given = meta.get("clip_id")
    return str(given) if given else f"v{track_number}-{index}"


def name(item: Any) -> str:
    """An item's name as messages show it."""
    return str(item.name) or "<unnamed>"
