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
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from json.encoder import encode_basestring_ascii
from typing import Any

import opentimelineio as otio

from kling_bridge.specs import ClipRef
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.paths import same_style
from kling_bridge.timeline.rates import exact_rate
from kling_bridge.timeline.walk import bridge_meta, clip_id, listed

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
    timeline: otio.schema.Timeline, results: Iterable[ResultClip], *, owned: bool = False
) -> otio.schema.Timeline:
    """A new timeline: ``timeline`` untouched plus the results as tracks (see module doc).

    The copy of the editor's cut is one C++ clone -- skipped when the caller passes
    ``owned=True`` for a timeline nobody else holds (one it has just parsed), which is then
    extended and returned: the clone costs more than half of OTIO's own read+write of the
    file. The new tracks and the alternate references are written as one OTIO JSON
    document and loaded in one go: building thousands of clips one Python object at a time
    costs several times OpenTimelineIO's own read of the whole timeline, and so does
    ``json.dumps`` of the same as dicts.
    """
    results = list(results)
    for result in results:
        if result.clip.record_duration <= 0:
            raise TimelineError("result has no length on the timeline",
                                item=result.clip.name or result.job_id,
                                hint="build ResultClip.clip from the job's ClipRef")
    output: otio.schema.Timeline = timeline if owned else copy.deepcopy(timeline)
    originals = _clips_by_id(
        output, {r.clip.clip_id: r.clip.name for r in results if r.kind == "restyle"})
    builder = _Builder(originals, _url_style(output))
    restyles = [r for r in results if r.kind == "restyle"]
    generations = [r for r in results if r.kind != "restyle"]

    tracks: list[str] = []
    alternates: list[tuple[otio.schema.Clip, ResultClip]] = []
    alternate_json: list[str] = []
    groups: dict[str, list[ResultClip]] = {}
    for result in restyles:
        groups.setdefault(result.track_label, []).append(result)
    for label, members in groups.items():
        meta = {"role": "restyle", "look": members[0].look, "variant": members[0].variant}
        tracks.extend(builder.lay_out(label, members, "Video", meta))
        for result in members:
            original = originals.get(result.clip.clip_id)
            if isinstance(original, otio.schema.Clip):
                alternates.append((original, result))
                alternate_json.append(builder.alternate(original, result))
    if generations:
        meta = {"role": "broll"}
        tracks.extend(builder.lay_out(BROLL_TRACK, generations, "Video", meta))
        with_sound = [g for g in generations if g.has_audio]
        if with_sound:
            tracks.extend(builder.lay_out(BROLL_TRACK + " audio", with_sound, "Audio", meta))
    loaded = _load_all(tracks + alternate_json)
    for track in loaded[:len(tracks)]:
        output.tracks.append(track)
    for (original, result), reference in zip(alternates, loaded[len(tracks):], strict=True):
        refs = original.media_references()
        refs[result.reference_key] = reference
        original.set_media_references(refs, original.active_media_reference_key)
    return output


def _load_all(children: list[str]) -> list[Any]:
    """Deserialize the JSON ``children`` inside one collection and hand them back detached."""
    if not children:
        return []
    holder = otio.adapters.otio_json.read_from_string(
        '{"OTIO_SCHEMA": "SerializableCollection.1", "name": "", "metadata": {}, '
        '"children": [' + ", ".join(children) + "]}")
    loaded = listed(holder)
    del holder[:]
    return loaded


def new_clips(timeline: otio.schema.Timeline) -> list[otio.schema.Clip]:
    """Clips the bridge added (they carry a job id), in track order."""
    found = []
    for clip in timeline.find_clips():
        meta = bridge_meta(clip)
        if isinstance(meta, Mapping) and meta.get("job_id"):
            found.append(clip)
    return found


# --------------------------------------------------------------------------- finding


def _clips_by_id(timeline: otio.schema.Timeline, wanted: dict[str, str]) -> dict[str, Any]:
    """The items the results name (id -> clip name), by the ids selection gave them: a
    place ``v2-5`` holding a clip of that name is taken directly; a plugin's own clip_id
    takes a scan (once, for all of them)."""
    video = [t for t in listed(timeline.tracks) if t.kind == otio.schema.TrackKind.Video]
    children: dict[int, list[Any]] = {}  # each track listed once, only when asked for
    found: dict[str, Any] = {}
    for wanted_id, name in wanted.items():
        place = _place(wanted_id)
        if place is None:
            continue
        number, index = place
        if number <= len(video):
            if number not in children:
                children[number] = listed(video[number - 1])
            track = children[number]
            if index < len(track):
                item = track[index]
                if isinstance(item, otio.schema.Clip | otio.schema.Stack) and item.name == name:
                    found[wanted_id] = item
    if len(found) == len(wanted):
        return found
    for number, track_item in enumerate(video, 1):
        for index, item in enumerate(listed(track_item)):
            if isinstance(item, otio.schema.Clip | otio.schema.Stack):
                key = clip_id(item, number, index)
                if key in wanted:
                    found.setdefault(key, item)
    return found


def _place(clip_id: str) -> tuple[int, int] | None:
    """``"v2-5"`` -> (2, 5): the place selection names a clip by when the plugin gave none
    (what ``re.fullmatch(r"v(\\d+)-(\\d+)")`` accepts, without a regex per result)."""
    if not clip_id.startswith("v"):
        return None
    number, dash, index = clip_id[1:].partition("-")
    if not dash or not number.isdecimal() or not index.isdecimal():
        return None
    return int(number), int(index)


def _url_style(timeline: otio.schema.Timeline) -> str:
    """The first clip's media URL (depth first, as ``find_clips`` orders them), or
    ``file:``: results for clips without media of their own are spelled like it."""
    for clip in _clips_depth_first(timeline.tracks):
        url = getattr(clip.media_reference, "target_url", "")
        if url:
            return str(url)
    return "file:"


def _clips_depth_first(composition: Any) -> Iterator[otio.schema.Clip]:
    for child in listed(composition):
        if isinstance(child, otio.schema.Clip):
            yield child
        if isinstance(child, otio.core.Composition):
            yield from _clips_depth_first(child)


# --------------------------------------------------------------------------- building

_q = encode_basestring_ascii  # a JSON string literal, as json.dumps writes it


def _number(value: Any) -> str:
    """A JSON number as ``json.dumps`` writes it (``repr`` for finite floats)."""
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    return json.dumps(value)


def _value(value: Any) -> str:
    """Any metadata value as ``json.dumps`` writes it (without building an encoder)."""
    if type(value) is str:
        return _q(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _number(value)


def _encoder() -> Callable[[Any], str]:
    """``json.dumps`` without building a new encoder for every small dictionary (it does
    for each call: a third of the cost of provenance for thousands of clips)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return json.dumps
    chunks = make(None, json.JSONEncoder().default, encode_basestring_ascii, None, ": ", ", ",
                  False, False, True)

    def dumps(value: Any) -> str:
        return "".join(chunks(value, 0))

    return dumps


_dumps = _encoder()


def _range(start: Any, duration: Any, rate: str) -> str:
    """A TimeRange.1 (the rate already written with :func:`_number`)."""
    return ('{"OTIO_SCHEMA": "TimeRange.1", "start_time": {"OTIO_SCHEMA": "RationalTime.1", '
            f'"rate": {rate}, "value": {_number(start)}}}, "duration": '
            f'{{"OTIO_SCHEMA": "RationalTime.1", "rate": {rate}, "value": {_number(duration)}}}}}')


class _Builder:
    """Writes result tracks and references as OTIO JSON text, remembering per call what
    repeats across thousands of results (rates, URLs, offsets)."""

    def __init__(self, originals: dict[str, Any], style: str) -> None:
        self.originals = originals
        self.style = style
        self._urls: dict[tuple[str, int], str] = {}
        self._offsets: dict[tuple[int, str, str], int | float] = {}
        self._rates: dict[Any, tuple[Fraction, str]] = {}

    def rate(self, text: Any) -> tuple[Fraction, str]:
        """A result's rate (``"24000/1001"``) exact, and as the float JSON number OTIO keeps."""
        if text not in self._rates:
            exact = exact_rate(text)
            self._rates[text] = (exact, _number(float(exact)))
        return self._rates[text]

    # ------------------------------------------------------------------ tracks

    def lay_out(self, label: str, members: list[ResultClip], kind: str,
                meta: dict[str, Any]) -> list[str]:
        """Tracks (as OTIO JSON) holding ``members`` at their record frames; clips that
        would overlap go to another lane of the same look."""
        lanes: list[tuple[list[str], int, str]] = []  # children, end frame, header
        for result in sorted(members, key=lambda r: (r.clip.record_start, r.job_id)):
            ref = result.clip
            tl_rate, rate = self.rate(ref.timeline_rate)
            start, length = ref.record_start, _placed_length(result, tl_rate)
            number = next((n for n, (_c, end, _h) in enumerate(lanes) if end <= start), None)
            if number is None:
                name = label if not lanes else f"{label} ({len(lanes) + 1})"
                header = ('{"OTIO_SCHEMA": "Track.1", "name": ' + _q(name) + ', "kind": '
                          + _q(kind) + ', "metadata": ' + json.dumps({KEY: dict(meta)}))
                lanes.append(([], 0, header))
                number = len(lanes) - 1
            children, end, header = lanes[number]
            if start > end:
                children.append('{"OTIO_SCHEMA": "Gap.1", "source_range": '
                                + _range(0, start - end, rate) + "}")
            original = self.originals.get(ref.clip_id) if result.kind == "restyle" else None
            children.append(self.clip(result, original, tl_rate, rate, length))
            lanes[number] = (children, start + length, header)
        return [header + ', "children": [' + ", ".join(children) + "]}"
                for children, _end, header in lanes]

    def clip(self, result: ResultClip, original: Any, tl_rate: Fraction, rate: str,
             length: int) -> str:
        offset = self._offset(result, tl_rate)
        base = result.clip.name or (original.name if original is not None else "")
        name = f"{base} [{result.track_label}]" if result.kind == "restyle" else (
            result.clip.name or "B-roll")
        return ('{"OTIO_SCHEMA": "Clip.2", "name": ' + _q(name) + ', "source_range": '
                + _range(offset, length, rate)
                + ', "media_references": {"DEFAULT_MEDIA": '
                + self.reference(result, self.url(result, original), 0, "")
                + '}, "active_media_reference_key": "DEFAULT_MEDIA", "metadata": '
                + _dumps({KEY: result.provenance()}) + "}")

    def _offset(self, result: ResultClip, tl_rate: Fraction) -> int | float:
        """The output frame under the source's first frame, in timeline time."""
        key = (result.handle_before, result.rate or result.clip.timeline_rate,
               result.clip.timeline_rate)
        if key not in self._offsets:
            media_rate = self.rate(key[1])[0]
            offset = Fraction(result.handle_before) * tl_rate / media_rate
            self._offsets[key] = int(offset) if offset.denominator == 1 else float(offset)
        return self._offsets[key]

    # ------------------------------------------------------------------ references

    def url(self, result: ResultClip, original: Any) -> str:
        """Bare path where the editor wrote bare paths (Resolve), else a percent-encoded
        URL (asked once per result: its clip and its alternate share it)."""
        key = (result.path, id(original))
        if key not in self._urls:
            source_url = ""
            if isinstance(original, otio.schema.Clip):
                source_url = getattr(original.media_reference, "target_url", "") or ""
            self._urls[key] = same_style(source_url or self.style, result.path)
        return self._urls[key]

    def reference(self, result: ResultClip, url: str, first: int, metadata: str) -> str:
        media_rate = self.rate(result.rate or result.clip.timeline_rate)[1]
        available = _range(first, result.frames, media_rate) if result.frames else "null"
        return ('{"OTIO_SCHEMA": "ExternalReference.1", "target_url": ' + _q(url)
                + ', "available_range": ' + available
                + (', "metadata": ' + metadata if metadata else "") + "}")

    def alternate(self, original: otio.schema.Clip, result: ResultClip) -> str:
        """Restyled media as an inactive reference whose range lines up with the source's:
        the frame under the source's first frame is ``handle_before`` frames into the file."""
        media_rate = self.rate(result.rate or result.clip.timeline_rate)[0]
        source_start = original.trimmed_range().start_time
        first = _rescaled(source_start.value, source_start.rate, media_rate) - result.handle_before
        metadata = ("{" + _q(KEY) + ": {\"job_id\": " + _value(result.job_id) + ', "look": '
                    + _value(result.look) + ', "variant": ' + _value(result.variant) + "}}")
        return self.reference(result, self.url(result, original), first, metadata)


def _rescaled(value: float, rate: float, target: Fraction) -> int:
    """``value`` frames at ``rate`` as whole frames at ``target`` (adapters' floats are off
    by 1e-9, hence the limited denominator); whole frames at the same rate stay as they are."""
    source = exact_rate(rate)
    if value == int(value) and source == target:
        return int(value)
    return round(Fraction(value).limit_denominator(1000) * target / source)


def _placed_length(result: ResultClip, tl_rate: Fraction) -> int:
    """Restyles keep the source's length; B-roll is trimmed to what was generated."""
    wanted = result.clip.record_duration
    if result.kind == "restyle" or result.frames is None or result.rate is None:
        return wanted
    made = round(Fraction(result.frames) / exact_rate(result.rate) * tl_rate)
    return max(1, min(wanted, made))
