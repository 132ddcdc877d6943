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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from kling_bridge.specs import ClipRef
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.paths import same_style
from kling_bridge.timeline.rates import exact_rate, rational
from kling_bridge.timeline.selection import clip_id

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
            "source_clip_id": self.clip.clip_id if self.kind == "restyle" else None,
            "placement": self.clip.clip_id if self.kind != "restyle" else None,
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
    """A new timeline: ``timeline`` untouched plus the results as tracks (see module doc)."""
    output: otio.schema.Timeline = copy.deepcopy(timeline)
    results = list(results)
    for result in results:
        if result.clip.record_duration <= 0:
            raise TimelineError("result has no length on the timeline",
                                item=result.clip.name or result.job_id,
                                hint="build ResultClip.clip from the job's ClipRef")
    originals = _clips_by_id(output)
    style = _url_style(output)
    restyles = [r for r in results if r.kind == "restyle"]
    generations = [r for r in results if r.kind != "restyle"]

    groups: dict[str, list[ResultClip]] = {}
    for result in restyles:
        groups.setdefault(result.track_label, []).append(result)
    for label, members in groups.items():
        meta = {"role": "restyle", "look": members[0].look, "variant": members[0].variant}
        video = otio.schema.TrackKind.Video
        for track in _lay_out(label, members, video, meta, originals, style):
            output.tracks.append(track)
        for result in members:
            original = originals.get(result.clip.clip_id)
            if isinstance(original, otio.schema.Clip):
                _add_alternate(original, result, style)
    if generations:
        meta = {"role": "broll"}
        for track in _lay_out(BROLL_TRACK, generations, otio.schema.TrackKind.Video, meta,
                              originals, style):
            output.tracks.append(track)
        with_sound = [g for g in generations if g.has_audio]
        if with_sound:
            for track in _lay_out(BROLL_TRACK + " audio", with_sound,
                                  otio.schema.TrackKind.Audio, meta, originals, style):
                output.tracks.append(track)
    return output


def new_clips(timeline: otio.schema.Timeline) -> list[otio.schema.Clip]:
    """Clips the bridge added (they carry a job id), in track order."""
    found = []
    for clip in timeline.find_clips():
        meta = clip.metadata.get(KEY)
        if isinstance(meta, Mapping) and meta.get("job_id"):
            found.append(clip)
    return found


# --------------------------------------------------------------------------- building


def _clips_by_id(timeline: otio.schema.Timeline) -> dict[str, Any]:
    """Same ids selection gave: the plugin's clip_id, else ``v<video track>-<index>``."""
    found: dict[str, Any] = {}
    number = 0
    for track in timeline.tracks:
        if track.kind != otio.schema.TrackKind.Video:
            continue
        number += 1
        for index, item in enumerate(track):
            if isinstance(item, otio.schema.Clip | otio.schema.Stack):
                found.setdefault(clip_id(item, number, index), item)
    return found


def _lay_out(
    label: str,
    members: list[ResultClip],
    kind: str,
    meta: dict[str, Any],
    originals: dict[str, Any],
    style: str,
) -> list[otio.schema.Track]:
    """Tracks holding ``members`` at their record frames; overlapping ones go to a new lane."""
    lanes: list[tuple[otio.schema.Track, int]] = []
    for result in sorted(members, key=lambda r: (r.clip.record_start, r.job_id)):
        ref = result.clip
        tl_rate = exact_rate(ref.timeline_rate)
        start, length = ref.record_start, _placed_length(result, tl_rate)
        number = next((n for n, (_t, end) in enumerate(lanes) if end <= start), None)
        if number is None:
            name = label if not lanes else f"{label} ({len(lanes) + 1})"
            lanes.append((otio.schema.Track(name=name, kind=kind, metadata={KEY: dict(meta)}), 0))
            number = len(lanes) - 1
        track, end = lanes[number]
        if start > end:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                rational(0, tl_rate), rational(start - end, tl_rate))))
        original = originals.get(ref.clip_id) if result.kind == "restyle" else None
        track.append(_result_clip(result, original, tl_rate, length, style))
        lanes[number] = (track, start + length)
    return [track for track, _ in lanes]


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


def _result_reference(result: ResultClip, original: Any, style: str,
                      start: otio.opentime.RationalTime | None = None) -> Any:
    media_rate = exact_rate(result.rate or result.clip.timeline_rate)
    available = None
    if result.frames:
        first = start if start is not None else rational(0, media_rate)
        available = otio.opentime.TimeRange(first, rational(result.frames, media_rate))
    return otio.schema.ExternalReference(
        target_url=_url_for(result, original, style),
        available_range=available,
        metadata={KEY: {"job_id": result.job_id}},
    )


def _result_clip(result: ResultClip, original: Any, tl_rate: Fraction,
                 length: int, style: str) -> otio.schema.Clip:
    media_rate = exact_rate(result.rate or result.clip.timeline_rate)
    offset = Fraction(result.handle_before) * tl_rate / media_rate
    offset_value = int(offset) if offset.denominator == 1 else float(offset)
    source_range = otio.opentime.TimeRange(
        otio.opentime.RationalTime(offset_value, float(tl_rate)), rational(length, tl_rate))
    base = result.clip.name or (original.name if original is not None else "")
    name = f"{base} [{result.track_label}]" if result.kind == "restyle" else (
        result.clip.name or "B-roll")
    return otio.schema.Clip(
        name=name,
        media_reference=_result_reference(result, original, style),
        source_range=source_range,
        metadata={KEY: result.provenance()},
    )


def _add_alternate(original: otio.schema.Clip, result: ResultClip, style: str) -> None:
    """Restyled media as an inactive reference whose range lines up with the source's."""
    media_rate = exact_rate(result.rate or result.clip.timeline_rate)
    source_start = original.trimmed_range().start_time
    first = otio.opentime.RationalTime(
        round(Fraction(source_start.value).limit_denominator(1000) * media_rate
              / exact_rate(source_start.rate)) - result.handle_before,
        float(media_rate),
    )
    reference = _result_reference(result, original, style, first)
    reference.metadata[KEY] = result.provenance()
    refs = original.media_references()
    refs[result.reference_key] = reference
    original.set_media_references(refs, original.active_media_reference_key)
