"""Finished jobs -> timeline edits (pure: a timeline and results in, a new timeline out).

The editor's cut is never changed: every original item stays as it was, and the results
arrive as *additions* an editor can switch on and off --

- one new video track per look (named for the look; a second lane only where sources
  overlap), each restyled clip at exactly its source's record position and length;
- generated B-roll on its own track at the marker/playhead placement, with an audio-track
  clip of the same file when the result has sound;
- in OTIO outputs, the restyled media also as an alternate media reference on the original
  clip (key ``kling_bridge.<look>``), mapped so the source range lands on the same frames,
  while the active reference stays the original -- OTIO-aware tools can flip between them;
- provenance under ``metadata["kling_bridge"]`` on every new clip (job id, provider, model,
  prompt/preset, task id, cost, draft flag, source clip id).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from kling_bridge.specs import ClipRef
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.paths import same_style
from kling_bridge.timeline.rates import exact_rate
from kling_bridge.timeline.walk import bridge_meta, clip_id

KEY = "kling_bridge"
BROLL_TRACK = "Kling B-roll"


@dataclass(frozen=True)
class ResultClip:
    """One finished job's video, as the timeline needs it (the lead builds these from jobs).

    ``clip`` is the source clip's ClipRef for a restyle and the placement for a generation.
    ``frames``/``rate`` describe the output file; ``handle_before`` is how many of its frames
    come before the source's first frame (0 when the output is exactly the source range).
    """

    job_id: str
    kind: str  # "restyle" | "generate"
    path: str
    clip: ClipRef
    look: str = ""  # track name for restyles (preset id or "custom"); ignored for B-roll
    variant: int = 0
    frames: int | None = None
    rate: str | None = None
    handle_before: int = 0
    has_audio: bool = False
    provider: str = ""
    model: str = ""
    prompt: str = ""
    preset: str | None = None
    task_id: str | None = None
    cost: float | None = None
    draft: bool = False

    def provenance(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "provider": self.provider,
            "model": self.model,
            "prompt": self.prompt,
            "preset": self.preset,
            "look": self.look,
            "variant": self.variant,
            "task_id": self.task_id,
            "cost": self.cost,
            "draft": self.draft,
            ("source_clip_id" if self.kind == "restyle" else "placement"): self.clip.clip_id,
        }

    @property
    def track_label(self) -> str:
        label = self.look or self.preset or "custom"
        return label if self.variant == 0 else f"{label} v{self.variant + 1}"

    @property
    def reference_key(self) -> str:
        key = f"{KEY}.{self.look or self.preset or 'custom'}"
        return key if self.variant == 0 else f"{key}.v{self.variant + 1}"


def apply_results(
    timeline: otio.schema.Timeline, results: Iterable[ResultClip]
) -> otio.schema.Timeline:
    """A new timeline: ``timeline`` untouched plus the results as tracks (see module doc).

    The new tracks and references are built as OTIO JSON and loaded in one go: building
    thousands of clips one Python object at a time costs several times OpenTimelineIO's
    own read of the whole timeline.
    """
    output: otio.schema.Timeline = copy.deepcopy(timeline)
    results = list(results)
    for result in results:
        if result.clip.record_duration <= 0:
            raise TimelineError("result has no length on the timeline",
                                item=result.clip.name or result.job_id,
                                hint="build ResultClip.clip from the job's ClipRef")
    originals = _clips_by_id(
        output, {r.clip.clip_id: r.clip.name for r in results if r.kind == "restyle"})
    style = _url_style(output)
    restyles = [r for r in results if r.kind == "restyle"]
    generations = [r for r in results if r.kind != "restyle"]

    tracks: list[dict[str, Any]] = []
    alternates: list[tuple[otio.schema.Clip, ResultClip, dict[str, Any]]] = []
    groups: dict[str, list[ResultClip]] = {}
    for result in restyles:
        groups.setdefault(result.track_label, []).append(result)
    for label, members in groups.items():
        meta = {"role": "restyle", "look": members[0].look, "variant": members[0].variant}
        tracks.extend(_lay_out(label, members, "Video", meta, originals, style))
        for result in members:
            original = originals.get(result.clip.clip_id)
            if isinstance(original, otio.schema.Clip):
                alternates.append((original, result, _alternate(original, result, style)))
    if generations:
        meta = {"role": "broll"}
        tracks.extend(_lay_out(BROLL_TRACK, generations, "Video", meta, originals, style))
        with_sound = [g for g in generations if g.has_audio]
        if with_sound:
            tracks.extend(_lay_out(BROLL_TRACK + " audio", with_sound, "Audio", meta,
                                   originals, style))
    for track in _load_all("Stack.1", tracks):
        output.tracks.append(track)
    loaded = _load_all("SerializableCollection.1", [ref for _o, _r, ref in alternates])
    for (original, result, _json), reference in zip(alternates, loaded, strict=True):
        refs = original.media_references()
        refs[result.reference_key] = reference
        original.set_media_references(refs, original.active_media_reference_key)
    return output


def _load_all(container: str, children: list[dict[str, Any]]) -> list[Any]:
    """Deserialize ``children`` inside one container and hand them back detached."""
    if not children:
        return []
    holder = otio.adapters.otio_json.read_from_string(json.dumps(
        {"OTIO_SCHEMA": container, "name": "", "metadata": {}, "children": children}))
    items = list(holder)
    del holder[:]
    return items


def new_clips(timeline: otio.schema.Timeline) -> list[otio.schema.Clip]:
    """Clips the bridge added (they carry a job id), in track order."""
    found = []
    for clip in timeline.find_clips():
        meta = bridge_meta(clip)
        if isinstance(meta, Mapping) and meta.get("job_id"):
            found.append(clip)
    return found


# --------------------------------------------------------------------------- building


def _clips_by_id(timeline: otio.schema.Timeline, wanted: dict[str, str]) -> dict[str, Any]:
    """The items the results name (id -> clip name), by the ids selection gave them: a
    place ``v2-5`` holding a clip of that name is taken directly; a plugin's own clip_id
    takes a scan (once, for all of them)."""
    video = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video]
    found: dict[str, Any] = {}
    for wanted_id, name in wanted.items():
        place = _PLACE.fullmatch(wanted_id)
        if place is None:
            continue
        number, index = int(place.group(1)), int(place.group(2))
        if number <= len(video) and index < len(video[number - 1]):
            item = video[number - 1][index]
            if isinstance(item, otio.schema.Clip | otio.schema.Stack) and item.name == name:
                found[wanted_id] = item
    if len(found) == len(wanted):
        return found
    for number, track in enumerate(video, 1):
        for index, item in enumerate(track):
            if isinstance(item, otio.schema.Clip | otio.schema.Stack):
                key = clip_id(item, number, index)
                if key in wanted:
                    found.setdefault(key, item)
    return found


_PLACE = re.compile(r"v(\d+)-(\d+)")


def _lay_out(
    label: str,
    members: list[ResultClip],
    kind: str,
    meta: dict[str, Any],
    originals: dict[str, Any],
    style: str,
) -> list[dict[str, Any]]:
    """Tracks (as OTIO JSON) holding ``members`` at their record frames; clips that would
    overlap go to another lane of the same look."""
    lanes: list[tuple[dict[str, Any], int]] = []
    for result in sorted(members, key=lambda r: (r.clip.record_start, r.job_id)):
        ref = result.clip
        tl_rate = exact_rate(ref.timeline_rate)
        start, length = ref.record_start, _placed_length(result, tl_rate)
        number = next((n for n, (_t, end) in enumerate(lanes) if end <= start), None)
        if number is None:
            name = label if not lanes else f"{label} ({len(lanes) + 1})"
            lanes.append(({"OTIO_SCHEMA": "Track.1", "name": name, "kind": kind,
                           "metadata": {KEY: dict(meta)}, "children": []}, 0))
            number = len(lanes) - 1
        track, end = lanes[number]
        rate = float(tl_rate)
        if start > end:
            track["children"].append({"OTIO_SCHEMA": "Gap.1", "name": "", "metadata": {},
                                      "source_range": _range(0, start - end, rate)})
        original = originals.get(ref.clip_id) if result.kind == "restyle" else None
        track["children"].append(_result_clip(result, original, tl_rate, length, style))
        lanes[number] = (track, start + length)
    return [track for track, _ in lanes]


def _time(value: float, rate: float) -> dict[str, Any]:
    return {"OTIO_SCHEMA": "RationalTime.1", "rate": rate, "value": value}


def _range(start: float, duration: float, rate: float,
           start_rate: float | None = None) -> dict[str, Any]:
    return {"OTIO_SCHEMA": "TimeRange.1", "start_time": _time(start, start_rate or rate),
            "duration": _time(duration, rate)}


def _placed_length(result: ResultClip, tl_rate: Fraction) -> int:
    """Restyles keep the source's length; B-roll is trimmed to what was generated."""
    wanted = result.clip.record_duration
    if result.kind == "restyle" or result.frames is None or result.rate is None:
        return wanted
    made = round(Fraction(result.frames) / exact_rate(result.rate) * tl_rate)
    return max(1, min(wanted, made))


def _url_for(result: ResultClip, original: Any, style: str) -> str:
    """Bare path where the editor wrote bare paths (Resolve), else a percent-encoded URL."""
    source_url = ""
    if isinstance(original, otio.schema.Clip):
        source_url = getattr(original.media_reference, "target_url", "") or ""
    return same_style(source_url or style, result.path)


def _url_style(timeline: otio.schema.Timeline) -> str:
    for clip in timeline.find_clips():
        url = getattr(clip.media_reference, "target_url", "")
        if url:
            return str(url)
    return "file:"


def _reference(result: ResultClip, url: str, first: int, metadata: dict[str, Any]
               ) -> dict[str, Any]:
    media_rate = float(exact_rate(result.rate or result.clip.timeline_rate))
    return {
        "OTIO_SCHEMA": "ExternalReference.1", "name": "", "target_url": url,
        "available_range": _range(first, result.frames, media_rate) if result.frames else None,
        "metadata": metadata,
    }


def _result_clip(result: ResultClip, original: Any, tl_rate: Fraction,
                 length: int, style: str) -> dict[str, Any]:
    media_rate = exact_rate(result.rate or result.clip.timeline_rate)
    offset = Fraction(result.handle_before) * tl_rate / media_rate
    offset_value = int(offset) if offset.denominator == 1 else float(offset)
    base = result.clip.name or (original.name if original is not None else "")
    name = f"{base} [{result.track_label}]" if result.kind == "restyle" else (
        result.clip.name or "B-roll")
    return {
        "OTIO_SCHEMA": "Clip.2", "name": name, "enabled": True, "effects": [], "markers": [],
        "source_range": _range(offset_value, length, float(tl_rate)),
        "media_references": {"DEFAULT_MEDIA": _reference(
            result, _url_for(result, original, style), 0, {})},
        "active_media_reference_key": "DEFAULT_MEDIA",
        "metadata": {KEY: result.provenance()},
    }


def _alternate(original: otio.schema.Clip, result: ResultClip, style: str) -> dict[str, Any]:
    """Restyled media as an inactive reference whose range lines up with the source's:
    the frame under the source's first frame is ``handle_before`` frames into the file."""
    media_rate = exact_rate(result.rate or result.clip.timeline_rate)
    source_start = original.trimmed_range().start_time
    first = round(Fraction(source_start.value).limit_denominator(1000) * media_rate
                  / exact_rate(source_start.rate)) - result.handle_before
    return _reference(result, _url_for(result, original, style), first,
                      {KEY: {"job_id": result.job_id, "look": result.look,
                             "variant": result.variant}})
