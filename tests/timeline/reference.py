"""The general path: what the fast paths in the timeline layer compute, written the plain way
with OpenTimelineIO's own Python API (``list()``, ``metadata.get``, ``range_in_parent``,
``find_clips``, ``parent()``, ``copy.deepcopy``, schema constructors, ``urllib``).

Slow on purpose and obviously right: the tests check the fast paths give exactly what this
gives, on the editors' samples and on generated timelines.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
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
            issues.append(ClipIssue(clip.name, f"media is not a local file ({url}); download it"
                                    " and relink", track))
        elif not os.path.exists(path):
            issues.append(ClipIssue(clip.name or "<unnamed>", f"media not found at {path}; "
                                    "relink it or put the file there", track))
    return issues


# --------------------------------------------------------------------------- results


def apply_results(timeline: otio.schema.Timeline,
                  results: Iterable[ResultClip]) -> otio.schema.Timeline:
    """results.apply_results built one OTIO object at a time."""
    from urllib.parse import quote

    output = copy.deepcopy(timeline)
    results = list(results)
    video = [t for t in output.tracks if t.kind == otio.schema.TrackKind.Video]
    originals: dict[str, Any] = {}
    for number, track in enumerate(video, 1):
        for index, item in enumerate(track):
            if not isinstance(item, otio.schema.Clip | otio.schema.Stack):
                continue
            meta = item.metadata.get(KEY)
            key = (str(meta["clip_id"]) if isinstance(meta, Mapping) and meta.get("clip_id")
                   else f"v{number}-{index}")
            originals.setdefault(key, item)
    style = next((c.media_reference.target_url for c in output.find_clips()
                  if getattr(c.media_reference, "target_url", "")), "file:")

    def url_for(result: ResultClip, original: Any) -> str:
        source = ""
        if isinstance(original, otio.schema.Clip):
            source = getattr(original.media_reference, "target_url", "") or ""
        if is_bare_path(source or style):
            return result.path
        if result.path.startswith("/"):
            path = result.path
            while "//" in path:
                path = path.replace("//", "/")
            return "file://" + quote(path, safe="/", errors="surrogateescape")
        from kling_bridge.timeline.paths import url_from_path

        return url_from_path(result.path)  # Windows and relative paths: one spelling only

    def reference(result: ResultClip, url: str, first: int,
                  metadata: dict[str, Any]) -> otio.schema.ExternalReference:
        rate = float(exact_rate(result.rate or result.clip.timeline_rate))
        available = TR(RT(first, rate), RT(result.frames, rate)) if result.frames else None
        return otio.schema.ExternalReference(target_url=url, available_range=available,
                                             metadata=metadata)

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
            original = originals.get(ref.clip_id) if result.kind == "restyle" else None
            media_rate = exact_rate(result.rate or ref.timeline_rate)
            offset = Fraction(result.handle_before) * tl_rate / media_rate
            base = ref.name or (original.name if original is not None else "")
            name = (f"{base} [{result.track_label}]" if result.kind == "restyle"
                    else ref.name or "B-roll")
            track.append(otio.schema.Clip(
                name=name, media_reference=reference(result, url_for(result, original), 0, {}),
                source_range=TR(RT(float(offset), rate), RT(length, rate)),
                metadata={KEY: result.provenance()}))
            lanes[lane] = (track, start + length)
        return [track for track, _ in lanes]

    groups: dict[str, list[ResultClip]] = {}
    for result in results:
        if result.kind == "restyle":
            groups.setdefault(result.track_label, []).append(result)
    generations = [r for r in results if r.kind != "restyle"]
    alternates = []
    for label, members in groups.items():
        meta = {"role": "restyle", "look": members[0].look, "variant": members[0].variant}
        output.tracks.extend(lay_out(label, members, "Video", meta))
        for result in members:
            original = originals.get(result.clip.clip_id)
            if isinstance(original, otio.schema.Clip):
                media_rate = exact_rate(result.rate or result.clip.timeline_rate)
                start = original.trimmed_range().start_time
                first = round(Fraction(start.value).limit_denominator(1000) * media_rate
                              / exact_rate(start.rate)) - result.handle_before
                alternates.append((original, result, reference(
                    result, url_for(result, original), first,
                    {KEY: {"job_id": result.job_id, "look": result.look,
                           "variant": result.variant}})))
    if generations:
        output.tracks.extend(lay_out(BROLL_TRACK, generations, "Video", {"role": "broll"}))
        with_sound = [g for g in generations if g.has_audio]
        if with_sound:
            output.tracks.extend(lay_out(BROLL_TRACK + " audio", with_sound, "Audio",
                                         {"role": "broll"}))
    for original, result, alternate in alternates:
        refs = original.media_references()
        refs[result.reference_key] = alternate
        original.set_media_references(refs, original.active_media_reference_key)
    return output
