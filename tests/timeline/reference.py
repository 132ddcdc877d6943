"""The general path: what the fast paths in the timeline layer compute, written the plain way
with OpenTimelineIO's own Python API (``list()``, ``metadata.get``, ``range_in_parent``,
``find_clips``, ``parent()``, ``copy.deepcopy``, schema constructors, ``urllib``).

Slow on purpose and obviously right: the tests check the fast paths give exactly what this
gives, on the editors' samples and on generated timelines.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from kling_bridge.timeline.errors import ClipIssue
from kling_bridge.timeline.paths import is_bare_path
from kling_bridge.timeline.rates import exact_rate
from kling_bridge.timeline.results import BROLL_TRACK, KEY, ResultClip

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


# --------------------------------------------------------------------------- walking


def items(timeline: otio.schema.Timeline, rate: Fraction) -> list[tuple[Any, ...]]:
    """(kind, number, index, track name, item name, record start, length) for every item
    that is not a gap or transition, placed by OTIO's own ``range_in_parent``."""
    rows = []
    numbers: dict[str, int] = {}
    for track in list(timeline.tracks):
        if not isinstance(track, otio.schema.Track):
            continue
        numbers[track.kind] = numbers.get(track.kind, 0) + 1
        for index, item in enumerate(list(track)):
            if isinstance(item, otio.schema.Transition | otio.schema.Gap):
                continue
            placed = item.range_in_parent()
            rows.append((track.kind, numbers[track.kind], index, track.name, item.name,
                         _frames(placed.start_time, rate), _frames(placed.duration, rate)))
    return rows


def _frames(time: otio.opentime.RationalTime, rate: Fraction) -> int:
    return round(Fraction(time.value).limit_denominator(1000) * rate / exact_rate(time.rate))


def bridge_meta(item: Any) -> Any:
    return item.metadata.get(KEY)


def media_issues(timeline: otio.schema.Timeline) -> list[ClipIssue]:
    """quirks.media_issues with ``find_clips`` and a climb up ``parent()`` per clip."""
    from kling_bridge.timeline.paths import path_from_url

    issues = []
    for clip in timeline.find_clips():
        ref = clip.media_reference
        parent = clip.parent()
        while parent is not None and not isinstance(parent, otio.schema.Track):
            parent = parent.parent()
        track = parent.name if parent is not None else ""
        if isinstance(ref, otio.schema.GeneratorReference):
            continue
        if isinstance(ref, otio.schema.MissingReference) or ref is None:
            issues.append(ClipIssue(clip.name or "<unnamed>", "offline: the editor exported no "
                                    "media path for it; relink it before exporting", track))
            continue
        url = getattr(ref, "target_url", "")
        if not url:
            continue
        path = path_from_url(url)
        if path is None:
            issues.append(ClipIssue(clip.name or "<unnamed>", f"media is not a local file "
                                    f"({url}); download it and relink", track))
        elif not os.path.exists(path):
            issues.append(ClipIssue(clip.name or "<unnamed>", f"media not found at {path}; "
                                    "relink it or put the file there", track))
    return issues


# --------------------------------------------------------------------------- results


def new_tracks(timeline: otio.schema.Timeline,
               results: Iterable[ResultClip]) -> list[otio.schema.Track]:
    """The results' tracks built one OTIO object at a time with the schema constructors."""
    from urllib.parse import quote

    results = list(results)
    style = next((c.media_reference.target_url for c in timeline.find_clips()
                  if getattr(c.media_reference, "target_url", "")), "file:")

    def url_for(result: ResultClip) -> str:
        if is_bare_path(style):
            return result.path
        if result.path.startswith("/"):
            path = result.path
            while "//" in path:
                path = path.replace("//", "/")
            return "file://" + quote(path, safe="/", errors="surrogateescape")
        from kling_bridge.timeline.paths import url_from_path

        return url_from_path(result.path)  # Windows and relative paths: one spelling only

    def first_frame(result: ResultClip, rate: Fraction) -> int:
        if not result.timecode:
            return 0
        return round(otio.opentime.from_timecode(result.timecode, float(rate)).value)

    def lay_out(label: str, members: list[ResultClip], kind: str,
                meta: dict[str, Any]) -> list[otio.schema.Track]:
        lanes: list[tuple[otio.schema.Track, int]] = []
        for result in sorted(members, key=lambda r: (r.clip.record_start, r.job_id)):
            ref = result.clip
            tl_rate = exact_rate(ref.timeline_rate)
            start = ref.record_start
            length = ref.record_duration
            if result.kind != "restyle" and result.frames is not None and result.rate:
                made = round(Fraction(result.frames) / exact_rate(result.rate) * tl_rate)
                length = max(1, min(length, made))
            lane = next((n for n, (_t, end) in enumerate(lanes) if end <= start), None)
            if lane is None:
                name = label if not lanes else f"{label} ({len(lanes) + 1})"
                lanes.append((otio.schema.Track(name=name, kind=kind,
                                                metadata={KEY: dict(meta)}), 0))
                lane = len(lanes) - 1
            track, end = lanes[lane]
            rate = float(tl_rate)
            if start > end:
                track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(start - end, rate))))
            media_rate = exact_rate(result.rate or ref.timeline_rate)
            first = first_frame(result, media_rate)
            offset = Fraction(first + result.handle_before) * tl_rate / media_rate
            name = (f"{ref.name} [{result.track_label}]" if result.kind == "restyle"
                    else ref.name or "B-roll")
            available = (TR(RT(first, float(media_rate)), RT(result.frames, float(media_rate)))
                         if result.frames else None)
            track.append(otio.schema.Clip(
                name=name,
                media_reference=otio.schema.ExternalReference(target_url=url_for(result),
                                                              available_range=available),
                source_range=TR(RT(float(offset), rate), RT(length, rate)),
                metadata={KEY: {**result.provenance(), "note": result.note}}))
            lanes[lane] = (track, start + length)
        return [track for track, _ in lanes]

    tracks: list[otio.schema.Track] = []
    groups: dict[str, list[ResultClip]] = {}
    for result in results:
        if result.kind == "restyle":
            groups.setdefault(result.track_label, []).append(result)
    generations = [r for r in results if r.kind != "restyle"]
    for label, members in groups.items():
        meta = {"role": "restyle", "look": members[0].look, "variant": members[0].variant}
        tracks.extend(lay_out(label, members, "Video", meta))
    if generations:
        tracks.extend(lay_out(BROLL_TRACK, generations, "Video", {"role": "broll"}))
        with_sound = [g for g in generations if g.has_audio]
        if with_sound:
            tracks.extend(lay_out(BROLL_TRACK + " audio", with_sound, "Audio",
                                  {"role": "broll"}))
    return tracks


def apply_results(timeline: otio.schema.Timeline,
                  results: Iterable[ResultClip]) -> otio.schema.Timeline:
    """results.apply_results built one OTIO object at a time: a copy plus new tracks."""
    output = copy.deepcopy(timeline)
    output.tracks.extend(new_tracks(timeline, results))
    return output
