"""The editor's selection -> job specs (pure: a timeline and criteria in, plain data out).

Which clips: those a host plugin marked (``metadata["kling_bridge"]["selected"]``), or -- for
files from editors without our plugin -- those with a clip colour, on a named track, under a
marker, inside a time range, or all of them. Filters given together must all match. With no
filter at all, the marked clips are taken.

Each chosen clip becomes a restyle of its source frames (counted from the media file's first
frame, whatever its timecode) plus handles clamped to the media the editor has. A clip the
bridge cannot restyle as it stands (retimed, reversed, a generator or title, a nested
compound, audio-only, offline) is reported by name with the reason, and the rest proceed.

Markers whose note or name starts with ``kling:`` become B-roll generation jobs placed at
the marker; touching prompt markers form one multi-shot job (the rule: :mod:`.prompts`).

Like OTIO's ``algorithms``, nothing here mutates its input or touches the disk: media
facts come in as callbacks (``media_start``, ``media_exists``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache
from typing import Any

import opentimelineio as otio

from kling_bridge.specs import ClipRef, GenerateSpec, Look, RestyleSpec, SourceRange
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.paths import path_from_url
from kling_bridge.timeline.prompts import (
    DEFAULT_SECONDS,
    MAX_SECONDS,
    MAX_SHOTS,
    MIN_SECONDS,
    PROMPT_PREFIX,
    PromptRules,
    generations,
    prompt_of,
)
from kling_bridge.timeline.rates import exact_rate, rate_text, timeline_rate
from kling_bridge.timeline.walk import bridge_meta, clip_id, gc_paused, listed, meta_value
from kling_bridge.timeline.walk import frames as _frames
from kling_bridge.timeline.walk import items as _items
from kling_bridge.timeline.walk import name as _name

KEY = "kling_bridge"
__all__ = ["DEFAULT_SECONDS", "MAX_SECONDS", "MAX_SHOTS", "MIN_SECONDS", "PROMPT_PREFIX",
           "Criteria", "Selection", "bridge_meta", "clip_colour", "clip_id", "generate_specs",
           "restyle_specs", "select"]

AUDIO_SUFFIXES = {".wav", ".mp3", ".aif", ".aiff", ".m4a", ".aac", ".flac", ".ogg", ".bwf", ".opus"}
STILL_SUFFIXES = {".exr", ".dpx", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".psd",
                  ".tga", ".gif", ".webp", ".cin", ".heic"}

MediaStart = Callable[[str], "otio.opentime.RationalTime | None"]

#: How a skipped clip whose media file is not on this machine is reported (a dry run lists
#: these apart: relinking is the editor's fix, not the bridge's).
MISSING_MEDIA = "media not found at"


@dataclass(frozen=True)
class Criteria:
    """What to take from a timeline. Filters combine with AND; none given = marked clips."""

    marked: bool = False
    colours: tuple[str, ...] = ()
    tracks: tuple[str, ...] = ()  # track names, or "V2"/"2" (1-based video track number)
    time_range: tuple[int | str, int | str] | None = None  # frames from start, or timecodes
    markers: tuple[str, ...] = ()  # text in a marker's name/note, or a marker colour
    all_clips: bool = False
    handles: int = 0  # frames each side, at the media's rate
    generations: bool = True  # turn ``kling:`` markers into B-roll jobs
    multishot: bool = True
    audio: bool = True  # generated B-roll with native sound
    default_seconds: int = DEFAULT_SECONDS
    prompt_prefix: str = PROMPT_PREFIX

    @property
    def has_filter(self) -> bool:
        return bool(self.marked or self.colours or self.tracks or self.time_range
                    or self.markers or self.all_clips)

    @classmethod
    def parse(cls, *selectors: str, **options: Any) -> Criteria:
        """CLI/API spelling: ``all``, ``marked``, ``colour:Orange,Teal``, ``track:V1``,
        ``range:01:00:10:00-01:00:20:00`` (or frames ``240-480``), ``marker:RED``."""
        values: dict[str, Any] = dict(options)
        for selector in selectors:
            kind, _, arg = selector.partition(":")
            kind = kind.strip().lower()
            items = tuple(a.strip() for a in arg.split(",") if a.strip())
            if kind == "all":
                values["all_clips"] = True
            elif kind in ("marked", "selected"):
                values["marked"] = True
            elif kind in ("colour", "color", "label") and items:
                values["colours"] = values.get("colours", ()) + items
            elif kind == "track" and items:
                values["tracks"] = values.get("tracks", ()) + items
            elif kind == "marker" and items:
                values["markers"] = values.get("markers", ()) + items
            elif kind == "range" and "-" in arg:
                start, _, end = arg.strip().partition("-")
                values["time_range"] = (_int_or_text(start), _int_or_text(end))
            else:
                raise TimelineError(
                    f"unknown selection {selector!r}",
                    hint="use all, marked, colour:NAME, track:NAME, range:IN-OUT or marker:TEXT",
                )
        return cls(**values)


@dataclass
class Selection:
    """What :func:`select` found: restyles, generations and what was left out and why."""

    restyles: list[tuple[ClipRef, SourceRange]] = field(default_factory=list)
    generations: list[GenerateSpec] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item name, reason)
    notes: list[str] = field(default_factory=list)


def select(
    timeline: otio.schema.Timeline,
    criteria: Criteria | None = None,
    media_start: MediaStart | None = None,
    *,
    media_exists: Callable[[str], bool] | None = None,
    source: str | None = None,
    allow_empty: bool = False,
) -> Selection:
    """Jobs for ``timeline`` under ``criteria``; raises TimelineError when nothing is left
    (unless ``allow_empty`` and some clips were chosen but left out: a dry run lists them).

    ``media_start(path)`` gives a file's first timecode when the timeline does not say
    (EDLs); without it a file is assumed to start at 00:00:00:00 and a note says so.
    ``source`` names the timeline in error messages.
    """
    with gc_paused():
        return _select(timeline, criteria or Criteria(), media_start, media_exists, source,
                       allow_empty)


def _select(timeline: otio.schema.Timeline, criteria: Criteria, media_start: MediaStart | None,
            media_exists: Callable[[str], bool] | None, source: str | None,
            allow_empty: bool) -> Selection:
    rate = timeline_rate(timeline)
    start = _start_frames(timeline, rate)
    window = _resolve_range(criteria.time_range, rate, start) if criteria.time_range else None
    result = Selection()
    auto = not criteria.has_filter
    audio_ignored = 0
    rate_name = rate_text(rate)
    last_track: Any = None
    track_name, track_on = "", True
    for kind, number, index, track, item, rec_start, rec_len in _items(timeline, rate):
        if track is not last_track:  # asked once per track, not once per clip
            last_track, track_name, track_on = track, track.name, track.enabled
        meta = bridge_meta(item)
        marked = meta is not None and isinstance(meta, Mapping) and bool(meta.get("selected"))
        if kind == otio.schema.TrackKind.Audio:
            if marked:
                result.skipped.append((_name(item), "audio-only: the bridge restyles picture"))
            elif isinstance(item, otio.schema.Clip):
                audio_ignored += 1
            continue
        if not _matches(criteria, auto, marked, item, track, number, rec_start, rec_len,
                        window, timeline):
            continue
        item_name = _name(item)
        ref = ClipRef(
            clip_id=clip_id(item, number, index, meta), name=item_name,
            track_index=number - 1,
            track_name=track_name, record_start=rec_start, record_duration=rec_len,
            timeline_rate=rate_name,
        )
        if not track_on:
            result.skipped.append((item_name, f"its track ({track_name or f'V{number}'}) is "
                                   "switched off in the timeline: switch it on to restyle it"))
            continue
        outcome = _source_range(item, criteria.handles, media_start, media_exists)
        if isinstance(outcome, str):
            result.skipped.append((item_name, outcome))
            continue
        source_range, note = outcome
        if note:
            result.notes.append(f"{item_name!r}: {note}")
        result.restyles.append((ref, source_range))
    if audio_ignored and not auto:
        result.notes.append(f"{audio_ignored} clip(s) on audio tracks left out (picture only)")
    if criteria.generations:
        rules = PromptRules(criteria.prompt_prefix, criteria.multishot, criteria.audio,
                            criteria.default_seconds)
        result.generations = generations(timeline, rules, rate, window)
    if not result.restyles and not result.generations and not (allow_empty and result.skipped):
        raise _empty(result, criteria, auto, source)
    return result


def restyle_specs(
    selection: Selection, looks: list[Look], variants: int = 1, **settings: Any
) -> list[RestyleSpec]:
    """One RestyleSpec per clip x look x variant (``settings``: resolution, model, ...)."""
    return [
        RestyleSpec(source=source, look=look, variant=variant, clip=ref, **settings)
        for ref, source in selection.restyles
        for look in looks
        for variant in range(max(1, variants))
    ]


def generate_specs(selection: Selection, variants: int = 1) -> list[GenerateSpec]:
    """Each generation job ``variants`` times (variant 0, 1, ...)."""
    return [replace(spec, variant=v) for spec in selection.generations
            for v in range(max(1, variants))]


# --------------------------------------------------------------------------- walking


def clip_colour(item: Any) -> str | None:
    """The clip colour/label as the editor named it (OTIO, Premiere label, Resolve, Blender)."""
    color = getattr(item, "color", None)
    if color is not None and color.name:
        return str(color.name)
    meta = item.metadata
    for keys in _COLOUR_KEYS:
        value: Any = meta
        for key in keys:
            try:
                value = value[key]
            except (KeyError, TypeError, IndexError):
                value = None
                break
        if value and value != "NONE":
            return str(value)
    return None


_COLOUR_KEYS = (
    (KEY, "colour"),
    ("fcp_xml", "labels", "label2"),
    ("Resolve_OTIO", "Clip Color"),
    ("blender", "strip", "color_tag"),
)


def _matches(criteria: Criteria, auto: bool, marked: bool, item: Any, track: Any,
             number: int, rec_start: int, rec_len: int,
             window: tuple[int, int] | None, timeline: otio.schema.Timeline) -> bool:
    if auto:
        return marked
    if criteria.marked and not marked:
        return False
    if criteria.colours:
        colour = (clip_colour(item) or "").lower()
        if colour not in {c.lower() for c in criteria.colours}:
            return False
    if criteria.tracks and not _track_matches(criteria.tracks, track, number):
        return False
    if window is not None and not (rec_start < window[1] and rec_start + rec_len > window[0]):
        return False
    return not criteria.markers or _under_marker(criteria.markers, item, track, timeline,
                                                 rec_start, rec_len, criteria.prompt_prefix)


def _track_matches(wanted: tuple[str, ...], track: Any, number: int) -> bool:
    for name in wanted:
        if name.lower() == track.name.lower():
            return True
        digits = name.upper().removeprefix("V")
        if digits.isdigit() and int(digits) == number:
            return True
    return False


def _marker_matches(wanted: tuple[str, ...], marker: Any, prefix: str) -> bool:
    if prompt_of(marker, prefix) is not None:
        return False
    text = f"{marker.name}\n{marker.comment}".lower()
    return any(w.lower() == str(marker.color).lower() or w.lower() in text for w in wanted)


def _under_marker(wanted: tuple[str, ...], item: Any, track: Any,
                  timeline: otio.schema.Timeline, rec_start: int, rec_len: int,
                  prefix: str) -> bool:
    if any(_marker_matches(wanted, m, prefix) for m in listed(item.markers)):
        return True
    rate = timeline_rate(timeline)
    for holder in (track, timeline.tracks):
        for marker in listed(holder.markers):
            if not _marker_matches(wanted, marker, prefix):
                continue
            begin = _frames(marker.marked_range.start_time, rate)
            end = begin + max(1, _frames(marker.marked_range.duration, rate))
            if begin < rec_start + rec_len and end > rec_start:
                return True
    return False


# --------------------------------------------------------------------------- sources


def _cannot_restyle(item: Any) -> tuple[str | None, Any]:
    """Why ``item`` cannot be restyled as it stands (None when it can), and its media."""
    if not item.enabled:
        return "disabled in the timeline (switched off): enable it to restyle it", None
    meta = bridge_meta(item)
    if isinstance(meta, Mapping) and meta.get("cannot_restyle"):  # what only the reader saw
        return str(meta["cannot_restyle"]), None
    if type(item) is not otio.schema.Clip:  # (the usual case answered by one comparison)
        if isinstance(item, otio.schema.Stack):
            return ("nested/compound clip: open it and select the clips inside, or flatten "
                    "it"), None
        if not isinstance(item, otio.schema.Clip):
            return f"{item.schema_name()} is not a clip", None
    effects = item.effects
    for effect in listed(effects) if len(effects) else ():
        if isinstance(effect, otio.schema.LinearTimeWarp):
            scalar = effect.time_scalar
            if scalar == 0:
                return "freeze frame (speed 0%): there is no motion to restyle", None
            if scalar < 0:
                return (f"reversed (speed {scalar * 100:g}%): render the reverse or remove it "
                        "first"), None
            if scalar != 1:
                return (f"retimed (speed {scalar * 100:g}%): render the speed change or reset "
                        "it"), None
        elif isinstance(effect, otio.schema.FreezeFrame):
            return "freeze frame: there is no motion to restyle", None
        elif isinstance(effect, otio.schema.TimeEffect):
            return f"time effect {effect.effect_name!r}: render it first", None
        elif _is_time_remap(effect):
            return "retimed (time remap): render the speed change or reset it", None
    ref = item.media_reference
    if type(ref) is otio.schema.ExternalReference:
        return None, ref
    if isinstance(ref, otio.schema.GeneratorReference):
        kind = ref.generator_kind or ref.name or "generator"
        return f"generator or title ({kind}): there is no footage to restyle", ref
    if isinstance(ref, otio.schema.ImageSequenceReference):
        return "image sequence: render it to a movie file (or relink to one) first", ref
    if ref is None or isinstance(ref, otio.schema.MissingReference):
        return ("offline: no media path in the timeline; relink it in the editor and export "
                "again"), ref
    return None, ref


def _is_time_remap(effect: Any) -> bool:
    value = meta_value(effect.metadata, "fcp_xml")
    text = str(value if value is not None else "").lower() + effect.effect_name.lower()
    return "timeremap" in text or "time remap" in text


@lru_cache(maxsize=64)
def _media_rate(rate: float) -> tuple[Fraction, str]:
    """A media rate as OTIO holds it -> exact, and as ``kling_bridge.specs`` writes it."""
    exact = exact_rate(rate)
    return exact, rate_text(exact)


def _source_range(
    item: Any, handles: int, media_start: MediaStart | None,
    media_exists: Callable[[str], bool] | None,
) -> tuple[SourceRange, str] | str:
    reason, ref = _cannot_restyle(item)
    if reason:
        return reason
    url = getattr(ref, "target_url", "")
    path = path_from_url(url) if url else None
    if not path:
        return f"media is not a local file ({url or 'no path'}): download it and relink"
    suffix = ("." + path.rsplit(".", 1)[-1].lower()) if "." in path.rsplit("/", 1)[-1] else ""
    if suffix in AUDIO_SUFFIXES:
        return "audio-only media: the bridge restyles picture"
    if suffix in STILL_SUFFIXES:
        return "still image or image-sequence frame: render it to a movie file or relink"
    if media_exists is not None and not media_exists(path):
        return f"{MISSING_MEDIA} {path}: relink it or put the file there"
    trimmed = item.trimmed_range()
    available = ref.available_range
    note = ""
    available_length = available.duration if available is not None else None
    if available_length is not None and available_length.value > 0:
        media_rate, media_rate_text = _media_rate(available_length.rate)
        origin = _frames(available.start_time, media_rate)
        length: int | None = _frames(available_length, media_rate)
    else:
        media_rate, media_rate_text = _media_rate(trimmed.duration.rate)
        first = media_start(path) if media_start else None
        if first is None:
            origin = 0
            note = "media start timecode unknown; assumed the file starts at 00:00:00:00"
        else:
            origin = _frames(first, media_rate)
        length = None
    start = _frames(trimmed.start_time, media_rate) - origin
    count = _frames(trimmed.duration, media_rate)
    if count <= 0:
        return "zero length"
    if start < 0:
        return "its source starts before the media's first frame: relink to the full file"
    if length is not None and start + count > length:
        return "its source runs past the end of the media: relink to the full file"
    before = min(handles, start)
    after = handles if length is None else max(0, min(handles, length - start - count))
    if length is None and handles:
        unchecked = "handles after the clip not checked (media length unknown)"
        note = f"{note}; {unchecked}" if note else unchecked
    return SourceRange(path=path, start_frame=start, frame_count=count,
                       rate=media_rate_text, handle_before=before,
                       handle_after=after), note


# --------------------------------------------------------------------------- helpers


def _int_or_text(value: str) -> int | str:
    value = value.strip()
    return int(value) if value.isdigit() else value


def _start_frames(timeline: otio.schema.Timeline, rate: Fraction) -> int:
    start = timeline.global_start_time
    return _frames(start, rate) if start is not None else 0


_TIMECODE = re.compile(r"^\d{1,2}:\d{2}:\d{2}[:;]\d{2}$")


def _resolve_range(span: tuple[int | str, int | str], rate: Fraction,
                   start: int) -> tuple[int, int]:
    """Frames from the timeline start; timecodes are absolute (01:00:10:00 = 10 s in)."""
    def one(value: int | str) -> int:
        if isinstance(value, int):
            return value
        if _TIMECODE.match(value):
            return _frames(otio.opentime.from_timecode(value, float(rate)), rate) - start
        raise TimelineError(f"cannot read {value!r} as a timecode or frame number",
                            hint="write range:HH:MM:SS:FF-HH:MM:SS:FF or range:FRAMES-FRAMES")
    begin, end = one(span[0]), one(span[1])
    if end <= begin:
        raise TimelineError(f"range {span[0]}-{span[1]} is empty",
                            hint="the out point must come after the in point")
    return begin, end


def _empty(result: Selection, criteria: Criteria, auto: bool, source: str | None) -> TimelineError:
    if result.skipped:
        listed = "; ".join(f"{name!r}: {why}" for name, why in result.skipped[:5])
        more = f" (+{len(result.skipped) - 5} more)" if len(result.skipped) > 5 else ""
        return TimelineError(f"no clip can be restyled: {listed}{more}", path=source,
                             hint="fix or deselect those clips")
    if auto or _only_marked(criteria):
        return TimelineError(
            "no clip is marked for kling-bridge and no 'kling:' marker was found: the "
            "default selection, 'marked', takes only clips an editor plugin (Resolve, "
            "Blender) marked, and a timeline exported from another editor has none",
            path=source,
            hint="choose the clips: --select all, --select color:Orange (the clip colour or "
            "label you gave them), --select track:V2, --select range:IN-OUT or "
            "--select marker:TEXT")
    return TimelineError("the selection matched no clip", path=source,
                         hint=f"check the criteria ({_describe(criteria)})")


def _only_marked(criteria: Criteria) -> bool:
    return criteria.marked and not (criteria.colours or criteria.tracks or criteria.time_range
                                    or criteria.markers or criteria.all_clips)


def _describe(criteria: Criteria) -> str:
    parts = []
    if criteria.marked:
        parts.append("marked")
    if criteria.colours:
        parts.append("colour " + "/".join(criteria.colours))
    if criteria.tracks:
        parts.append("track " + "/".join(criteria.tracks))
    if criteria.time_range:
        parts.append(f"range {criteria.time_range[0]}-{criteria.time_range[1]}")
    if criteria.markers:
        parts.append("marker " + "/".join(criteria.markers))
    if criteria.all_clips:
        parts.append("all clips")
    return ", ".join(parts)
