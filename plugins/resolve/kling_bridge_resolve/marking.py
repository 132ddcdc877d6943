"""The timeline the daemon gets: Resolve's own OTIO export with the chosen clips marked (pure).

The daemon restyles the clips of an OTIO timeline whose ``metadata["kling_bridge"]`` says
``{"selected": true, "clip_id": ...}``. Resolve's export carries no item id, so a chosen
item is found in it by what both sides agree on: its video track (the n-th track of kind
Video, as Resolve numbers them) and its record frame (the timeline start plus the length of
everything before it on that track -- ``Timeline.GetStartFrame()`` and ``GetStart()`` on the
Resolve side). Its ``clip_id`` becomes Resolve's ``GetUniqueId()``, so each result finds its
way back to the very item it came from.

A chosen clip whose media runs at another rate than the timeline gets its source range
rewritten in the media's own frames (Resolve's export quantises it to the timeline's grid,
which can put the in-point a frame off): the first frame is the item's exact in-point
(``GetLeftOffset``), the count the media frames that cover the item
(:func:`~.frames.media_count`). The gap after it absorbs the difference in length, so the
clips after it keep their record frames.

Where Resolve cannot export OTIO (before 18.5), :func:`build` writes the same shape from the
items the plugin read: Resolve's ``Clip.2`` with a ``DEFAULT_MEDIA`` reference holding a bare
path, source ranges counted in the media's own timecode, ``global_start_time`` at 01:00:00:00.

Everything works on the JSON document as plain dicts: Resolve's Python has no
OpenTimelineIO.
"""

import copy
from fractions import Fraction
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple  # noqa: F401

from .frames import exact_rate, media_count
from .model import Item, TimelineFacts  # noqa: F401

KEY = "kling_bridge"
PROMPT_PREFIX = "kling:"


def _schema(node):
    # type: (Any) -> str
    return str(node.get("OTIO_SCHEMA", "")).split(".")[0] if isinstance(node, dict) else ""


def _frames(rt, rate):
    # type: (Optional[Dict[str, Any]], Fraction) -> int
    """A RationalTime dict in whole frames at ``rate`` (exact NTSC rates, no float drift)."""
    if not rt:
        return 0
    value = Fraction(str(rt.get("value", 0)))
    own = exact_rate(rt.get("rate") or rate)
    return round(value * rate / own) if own != rate else round(value)


def _length(child, rate):
    # type: (Dict[str, Any], Fraction) -> int
    span = child.get("source_range")
    if span:
        return _frames(span.get("duration"), rate)
    if _schema(child) == "Clip":
        refs = child.get("media_references") or {}
        ref = refs.get(child.get("active_media_reference_key") or "DEFAULT_MEDIA") \
            or child.get("media_reference") or {}
        available = ref.get("available_range") or {}
        return _frames(available.get("duration"), rate)
    return 0


def timeline_rate(doc):
    # type: (Dict[str, Any]) -> Optional[float]
    """The rate the export says (a float to 1e-9; Resolve's setting text is rounded)."""
    start = doc.get("global_start_time") or {}
    rate = start.get("rate")
    if rate:
        return float(rate)
    for _n, _i, child, _s, _l in _walk_video(doc, Fraction(24)):
        span = child.get("source_range") or {}
        duration = span.get("duration") or {}
        if duration.get("rate"):
            return float(duration["rate"])
    return None


def _walk_video(doc, rate):
    # type: (Dict[str, Any], Fraction) -> Iterator[Tuple[int, int, Dict[str, Any], int, int]]
    """(video track number, index, child, absolute record start, length) for every item."""
    origin = _frames(doc.get("global_start_time"), rate)
    number = 0
    for track in (doc.get("tracks") or {}).get("children") or []:
        if _schema(track) != "Track" or track.get("kind", "Video") != "Video":
            continue
        number += 1
        position = origin
        for index, child in enumerate(track.get("children") or []):
            kind = _schema(child)
            if kind == "Transition":
                continue  # transitions overlap their neighbours; they take no track time
            length = _length(child, rate)
            if kind in ("Clip", "Stack"):
                yield number, index, child, position, length
            position += length


def mark(doc, items, rate, in_place=False):
    # type: (Dict[str, Any], Sequence[Item], Fraction, bool) -> Tuple[Dict[str, Any], List[Tuple[Item, str]]]
    """``doc`` with ``items`` marked, and the items it could not find (with why).

    A copy unless ``in_place`` (for a document the caller parsed for this and owns: copying
    a 5,000-clip export costs more than marking it). Prompt markers are dropped because the
    Generate script owns them (the daemon would turn them into B-roll).
    """
    marked = doc if in_place else copy.deepcopy(doc)
    strip_prompt_markers(marked)
    wanted = dict(((i.track, i.start), i) for i in items)
    found = set()
    other_rate = []  # type: List[Tuple[Dict[str, Any], int, Item]]
    for number, index, child, start, length in _walk_video(marked, rate):
        item = wanted.get((number, start))
        if item is None:
            continue
        if length != item.duration:
            continue  # same place, different clip: reported as missing below
        meta = child.get("metadata")
        if not isinstance(meta, dict):
            meta = child["metadata"] = {}
        meta[KEY] = {"selected": True, "clip_id": item.uid, "name": item.name,
                     "resolve": {"track": item.track, "start": item.start, "end": item.end}}
        found.add((number, start))
        if item.path and item.media_rate and exact_rate(item.media_rate) != rate:
            other_rate.append((child, index, item))
    for child, index, item in other_rate:  # after the walk: it counts the old lengths
        _exact_source(marked, child, index, item, rate)
    missing = []  # type: List[Tuple[Item, str]]
    for key, item in sorted(wanted.items()):
        if key not in found:
            missing.append((item, "not found in Resolve's OTIO export at V%d, frame %d "
                                  "(%d frames)" % (item.track, item.start, item.duration)))
    return marked, missing


def _source_span(item, rate):
    # type: (Item, Fraction) -> Tuple[int, int, Fraction]
    """(first media frame in the media's timecode, media frames, media rate) of ``item``."""
    media_rate = exact_rate(item.media_rate or rate)
    count = media_count(item.duration, rate, media_rate)
    if item.media_frames:
        count = max(1, min(count, item.media_frames - item.left_offset))
    return item.media_start + item.left_offset, count, media_rate


def _exact_source(doc, child, index, item, rate):
    # type: (Dict[str, Any], Dict[str, Any], int, Item, Fraction) -> None
    first, count, media_rate = _source_span(item, rate)
    child["source_range"] = _range(first, count, media_rate)
    grown = _length(child, rate) - item.duration  # how the daemon now counts its length
    if not grown:
        return
    for track in (doc.get("tracks") or {}).get("children") or []:
        children = track.get("children") or []
        if index < len(children) and children[index] is child:
            after = children[index + 1] if index + 1 < len(children) else {}
            if _schema(after) == "Gap":
                left = _length(after, rate) - grown
                if left > 0:
                    after["source_range"] = _range(0, left, rate)
                elif left == 0:
                    del children[index + 1]
            return


def marked_ids(doc):
    # type: (Dict[str, Any]) -> List[str]
    """The clip ids marked in ``doc`` (what the daemon will restyle)."""
    rate = exact_rate(timeline_rate(doc) or 24)
    out = []
    for _n, _i, child, _s, _l in _walk_video(doc, rate):
        meta = (child.get("metadata") or {}).get(KEY)
        if isinstance(meta, dict) and meta.get("selected"):
            out.append(str(meta.get("clip_id")))
    return out


def _is_prompt(marker, prefix):
    # type: (Dict[str, Any], str) -> bool
    resolve_meta = (marker.get("metadata") or {}).get("Resolve_OTIO") or {}
    for text in (marker.get("comment"), marker.get("name"), resolve_meta.get("Note")):
        if str(text or "").strip().lower().startswith(prefix):
            return True
    return False


def strip_prompt_markers(node, prefix=PROMPT_PREFIX):
    # type: (Any, str) -> int
    """Remove ``kling:`` markers everywhere under ``node`` (in place); how many went."""
    removed = 0
    if isinstance(node, dict):
        markers = node.get("markers")
        if isinstance(markers, list):
            kept = [m for m in markers if not _is_prompt(m, prefix)]
            removed += len(markers) - len(kept)
            node["markers"] = kept
        for key in ("tracks", "children"):
            value = node.get(key)
            if isinstance(value, (dict, list)):
                removed += strip_prompt_markers(value, prefix)
    elif isinstance(node, list):
        for child in node:
            removed += strip_prompt_markers(child, prefix)
    return removed


# ------------------------------------------------------------------ building (no export)


def _rt(value, rate):
    # type: (int, Fraction) -> Dict[str, Any]
    return {"OTIO_SCHEMA": "RationalTime.1", "rate": float(rate), "value": float(value)}


def _range(start, duration, rate):
    # type: (int, int, Fraction) -> Dict[str, Any]
    return {"OTIO_SCHEMA": "TimeRange.1", "duration": _rt(duration, rate),
            "start_time": _rt(start, rate)}


def _gap(frames, rate):
    # type: (int, Fraction) -> Dict[str, Any]
    return {"OTIO_SCHEMA": "Gap.1", "metadata": {}, "name": "",
            "source_range": _range(0, frames, rate), "effects": [], "markers": [],
            "enabled": True}


def _clip(item, rate, chosen):
    # type: (Item, Fraction, bool) -> Dict[str, Any]
    media_rate = item.media_rate or rate
    if item.path:
        available = None
        if item.media_frames:
            available = _range(item.media_start, item.media_frames, media_rate)
        ref = {"OTIO_SCHEMA": "ExternalReference.1", "metadata": {}, "name": item.name,
               "available_range": available, "available_image_bounds": None,
               "target_url": item.path}  # a bare path, as Resolve writes it
        first, count, media_rate = _source_span(item, rate)
        source = _range(first, count, media_rate)
    else:
        ref = {"OTIO_SCHEMA": "MissingReference.1", "metadata": {}, "name": item.name,
               "available_range": None, "available_image_bounds": None}
        source = _range(0, item.duration, rate)
    meta = {"Resolve_OTIO": {}}  # type: Dict[str, Any]
    if chosen:
        meta[KEY] = {"selected": True, "clip_id": item.uid, "name": item.name,
                     "resolve": {"track": item.track, "start": item.start, "end": item.end}}
    return {"OTIO_SCHEMA": "Clip.2", "metadata": meta, "name": item.name,
            "source_range": source, "effects": [], "markers": [], "enabled": item.enabled,
            "media_references": {"DEFAULT_MEDIA": ref},
            "active_media_reference_key": "DEFAULT_MEDIA"}


def build(facts, chosen):
    # type: (TimelineFacts, Sequence[Item]) -> Dict[str, Any]
    """A Resolve-shaped OTIO timeline of ``facts``' video tracks with ``chosen`` marked."""
    rate = facts.rate
    ids = set(i.uid for i in chosen)
    tracks = []
    for number in range(1, facts.video_tracks + 1):
        children = []  # type: List[Dict[str, Any]]
        end = position = facts.start  # Resolve's end of the last item; the daemon's count
        for item in facts.track_items(number):
            if item.start < end:
                continue  # Resolve never overlaps items on one track; ignore a bad read
            if item.start > position:
                children.append(_gap(item.start - position, rate))
            children.append(_clip(item, rate, item.uid in ids))
            end = item.end
            position = max(position, item.start) + _length(children[-1], rate)
        tracks.append({"OTIO_SCHEMA": "Track.1", "metadata": {"Resolve_OTIO": {"Locked": False}},
                       "name": "Video %d" % number, "source_range": None, "effects": [],
                       "markers": [], "enabled": True, "children": children,
                       "kind": "Video"})
    return {"OTIO_SCHEMA": "Timeline.1",
            "metadata": {"Resolve_OTIO": {"Resolve OTIO Meta Version": "1.0"}},
            "name": facts.name, "global_start_time": _rt(facts.start, rate),
            "tracks": {"OTIO_SCHEMA": "Stack.1", "metadata": {}, "name": "",
                       "source_range": None, "effects": [], "markers": [], "enabled": True,
                       "children": tracks}}
