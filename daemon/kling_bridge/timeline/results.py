"""Finished jobs -> new OTIO tracks (pure: results in, tracks out; the editor's cut untouched).

The tracks are laid out by :mod:`.placement` (one per look, B-roll with its sound) and built
here as the plain data of OTIO's JSON document -- the same dictionaries OpenTimelineIO's own
serializer writes for ``Track.1``, ``Clip.2``, ``Gap.1`` and ``ExternalReference.1``. They go
out two ways:

- :func:`track_documents` for the text splice of an OTIO file (:mod:`.otio_splice`): the
  editor's document stays byte for byte, the new tracks' JSON is inserted after its last track;
- :func:`apply_results`, a new Timeline (a copy of the editor's plus the new tracks) for the
  formats written through OTIO's adapters.

Why dictionaries and not OTIO objects: building thousands of clips one Python binding call
at a time costs more than OpenTimelineIO's own read of the whole timeline, while
serializing the same data is one C call. Measured on ``bench/timeline.py``'s 5,000
restyled clips: the new tracks built with OTIO's constructors (as
``tests/timeline/reference.py`` does) and serialized by OTIO take about 600 ms of CPU, these
dictionaries about 25 ms and their JSON (orjson, in :mod:`.otio_splice`) about 5 ms -- the
plain way alone would take longer than the whole bridge path does. Two tests pin the shape:
``test_otio_splice.py::test_new_tracks_are_what_otio_writes_for_the_same_objects`` compares
what is built here with what OTIO serializes for the same objects, and
``test_fast_paths.py::test_json_schema_versions_are_otios_own`` checks :data:`SCHEMAS`
against the versions the installed OpenTimelineIO writes, so a schema version change fails
a test instead of writing stale JSON.

Every new clip carries ``metadata["kling_bridge"]``: the full record (job id, provider,
model, prompt/preset, task id, cost, draft flag, source clip id) and a ``note`` a person
reads (see :mod:`.provenance`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from fractions import Fraction
from functools import lru_cache
from typing import Any

import opentimelineio as otio

from kling_bridge.timeline.gc_pause import no_gc
from kling_bridge.timeline.paths import is_bare_path, url_from_path
from kling_bridge.timeline.placement import (
    BROLL_TRACK,
    KEY,
    PlannedTrack,
    ResultClip,
    check_results,
    in_timeline_frames,
    plan_tracks,
    source_in,
)
from kling_bridge.timeline.rates import exact_rate
from kling_bridge.timeline.walk import bridge_meta

__all__ = ["BROLL_TRACK", "KEY", "ResultClip", "apply_results", "new_clips",
           "track_documents", "url_style"]

#: The schema versions the dictionaries below are written in (checked by a test).
SCHEMAS = {"Track": "Track.1", "Clip": "Clip.2", "Gap": "Gap.1",
           "ExternalReference": "ExternalReference.1", "TimeRange": "TimeRange.1",
           "RationalTime": "RationalTime.1"}


def apply_results(
    timeline: otio.schema.Timeline, results: Iterable[ResultClip]
) -> otio.schema.Timeline:
    """A new timeline: a copy of ``timeline`` plus the results as new tracks.

    ``timeline`` itself is never changed, and the copy's original items are exactly the
    input's: the restyled media is on the new tracks only.
    """
    checked = check_results(results)
    output: otio.schema.Timeline = copy.deepcopy(timeline)
    tracks = track_documents(checked, url_style(output))
    if tracks:
        holder = otio.adapters.otio_json.read_from_string(json.dumps({
            "OTIO_SCHEMA": "SerializableCollection.1", "metadata": {}, "name": "",
            "children": tracks}))
        loaded = holder[:]
        del holder[:]  # a track belongs to one parent at a time
        output.tracks.extend(loaded)
    return output


def track_documents(results: Iterable[ResultClip], style: str = "file:") -> list[dict[str, Any]]:
    """The new tracks as OTIO JSON data (``json.dumps`` of each is a ``Track.1`` document;
    equal ranges are one shared object, so treat the data as read-only).

    ``style`` is a media URL of the editor's timeline: result paths are written bare where
    the editor wrote bare paths (Resolve), as percent-encoded ``file:`` URLs otherwise.
    """
    with no_gc():  # ~20 dictionaries a clip, all kept until written (see .gc_pause)
        return [_track(planned, style) for planned in plan_tracks(results)]


def url_style(timeline: otio.schema.Timeline) -> str:
    """The first clip's media URL (depth first), or ``file:`` when no clip has one."""
    for clip in timeline.find_clips():
        url = getattr(clip.media_reference, "target_url", "")
        if url:
            return str(url)
    return "file:"


def new_clips(timeline: otio.schema.Timeline) -> list[otio.schema.Clip]:
    """Clips the bridge added (they carry a job id), in track order."""
    return [clip for clip in timeline.find_clips() if bridge_meta(clip).get("job_id")]


# --------------------------------------------------------------------------- building


def _time(value: float | int | Fraction, rate: float) -> dict[str, Any]:
    return {"OTIO_SCHEMA": "RationalTime.1", "rate": rate, "value": float(value)}


@lru_cache(maxsize=4096)  # thousands of clips share a few lengths, handles and rates
def _range(start: float | int | Fraction, duration: float | int | Fraction,
           rate: float) -> dict[str, Any]:
    """A TimeRange.1 (shared between clips that have the same one: never change it)."""
    return {"OTIO_SCHEMA": "TimeRange.1", "duration": _time(duration, rate),
            "start_time": _time(start, rate)}


def _item(schema: str, name: str, source_range: dict[str, Any] | None,
          metadata: dict[str, Any]) -> dict[str, Any]:
    """The fields every OTIO item writes (empty effects and markers: tuples, written as
    ``[]``, cost the garbage collector nothing)."""
    return {"OTIO_SCHEMA": schema, "metadata": metadata, "name": name,
            "source_range": source_range, "effects": (), "markers": (), "enabled": True,
            "color": None}


def _track(planned: PlannedTrack, style: str) -> dict[str, Any]:
    bare = is_bare_path(style)  # Resolve's own files: bare paths, so ours are too
    children: list[dict[str, Any]] = []
    end = 0
    for placed in planned.items:
        result = placed.result
        rate = _float_rate(result.clip.timeline_rate)
        if placed.start > end:
            children.append(_item("Gap.1", "", _range(0, placed.start - end, rate), {}))
        children.append(_clip(result, placed.length, rate, bare))
        end = placed.start + placed.length
    track = _item("Track.1", planned.name, None, {KEY: planned.meta})
    track["children"] = children
    track["kind"] = planned.kind
    return track


def _clip(result: ResultClip, length: int, rate: float, bare: bool) -> dict[str, Any]:
    if result.kind == "restyle":
        name = f"{result.clip.name} [{result.track_label}]"
    else:
        name = result.clip.name or "B-roll"
    first = result.first_frame
    media_rate = _float_rate(result.rate or result.clip.timeline_rate)
    if media_rate == rate:  # the usual case: whole frames, no fractions
        start: int | Fraction = first + result.handle_before
    else:
        start = in_timeline_frames(source_in(result), result)
    record = result.provenance()  # a new dict: the note joins it
    record["note"] = result.note
    clip = _item("Clip.2", name, _range(start, length, rate), {KEY: record})
    available = _range(first, result.frames, media_rate) if result.frames else None
    clip["media_references"] = {"DEFAULT_MEDIA": {
        "OTIO_SCHEMA": "ExternalReference.1", "metadata": {}, "name": "",
        "available_range": available, "available_image_bounds": None,
        "target_url": result.path if bare else url_from_path(result.path)}}
    clip["active_media_reference_key"] = "DEFAULT_MEDIA"
    return clip


@lru_cache(maxsize=64)
def _float_rate(text: str) -> float:
    """``"24000/1001"`` -> the float OTIO writes for it (asked for every new clip)."""
    return float(exact_rate(text))
