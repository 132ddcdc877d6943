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

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from kling_bridge.specs import ClipRef, GenerateSpec, Look, RestyleSpec, SourceRange
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.gc_pause import no_gc
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
from kling_bridge.timeline.rates import frame_counter, rate_text, timeline_rate
from kling_bridge.timeline.walk import bridge_meta, clip_id, metadata_get, placed_items
from kling_bridge.timeline.walk import name as _name

KEY = "kling_bridge"
__all__ = ["DEFAULT_SECONDS", "MAX_SECONDS", "MAX_SHOTS", "MIN_SECONDS", "PROMPT_PREFIX",
           "Criteria", "Selection", "bridge_meta", "clip_colour", "clip_id", "generate_specs",
           "restyle_specs", "select"]

AUDIO_SUFFIXES = {".wav", ".mp3", ".aif", ".aiff", ".m4a", ".aac", ".flac", ".ogg", ".bwf", ".opus"}
STILL_SUFFIXES = {".exr", ".dpx", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".psd",
                  ".tga", ".gif", ".webp", ".cin", ".heic"}

_NOT_MOVIES = tuple(AUDIO_SUFFIXES | STILL_SUFFIXES)

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
        return self.narrows or self.all_clips

    @property
    def narrows(self) -> bool:
        """Whether a filter leaves some clips out (every filter but ``all``)."""
        return bool(self.marked or self.colours or self.tracks or self.time_range
                    or self.markers)

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


@no_gc()  # ~4 records a clip, all kept: a collection of a 5,000-clip cut's finds nothing
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
    criteria = criteria or Criteria()
    rate = timeline_rate(timeline)
    start = _start_frames(timeline, rate)
    window = _resolve_range(criteria.time_range, rate, start) if criteria.time_range else None
    result = Selection()
    auto = not criteria.has_filter
    audio_ignored = 0
    rate_name = rate_text(rate)
    every = criteria.all_clips and not criteria.narrows
    audio = otio.schema.TrackKind.Audio
    for kind, number, index, track, item, rec_start, rec_len in placed_items(timeline, rate):
        meta = bridge_meta(item)
        marked = bool(meta.get("selected"))
        if kind == audio:
            if marked:
                result.skipped.append((_name(item), "audio-only: the bridge restyles picture"))
            elif isinstance(item, otio.schema.Clip):
                audio_ignored += 1
            continue
        if not every and not _matches(criteria, auto, marked, item, track, number, rec_start,
                                      rec_len, window, timeline):
            continue
        item_name = _name(item)
        ref = ClipRef(
            clip_id=clip_id(meta, number, index), name=item_name, track_index=number - 1,
            track_name=track.name, record_start=rec_start, record_duration=rec_len,
            timeline_rate=rate_name,
        )
        if not track.enabled:
            result.skipped.append((item_name, f"its track ({track.name or f'V{number}'}) is "
                                   "switched off in the timeline: switch it on to restyle it"))
            continue
        outcome = _source_range(item, meta, criteria.handles, media_start, media_exists)
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
    for keys in _COLOUR_KEYS:
        value: Any = item.metadata
        for key in keys:
            value = metadata_get(value, key) if hasattr(value, "keys") else None
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
    if any(_marker_matches(wanted, m, prefix) for m in item.markers[:]):
        return True
    at_rate = frame_counter(timeline_rate(timeline))
    for holder in (track, timeline.tracks):
        for marker in holder.markers[:]:
            if not _marker_matches(wanted, marker, prefix):
                continue
            begin = at_rate(marker.marked_range.start_time)
            end = begin + max(1, at_rate(marker.marked_range.duration))
            if begin < rec_start + rec_len and end > rec_start:
                return True
    return False


# --------------------------------------------------------------------------- sources


def _cannot_restyle(item: Any, meta: dict[str, Any]) -> tuple[str | None, Any]:
    """Why ``item`` cannot be restyled as it stands (None when it can), and its media;
    ``meta`` is its :func:`bridge_meta`."""
    if not item.enabled:
        return "disabled in the timeline (switched off): enable it to restyle it", None
    if meta.get("cannot_restyle"):  # what only the reader saw (an FCPXML retime...)
        return str(meta["cannot_restyle"]), None
    if isinstance(item, otio.schema.Stack):
        return "nested/compound clip: open it and select the clips inside, or flatten it", None
    if not isinstance(item, otio.schema.Clip):
        return f"{item.schema_name()} is not a clip", None
    effects = item.effects
    if effects:  # most clips have none (see :func:`_time_effect_reason`)
        retimed = _time_effect_reason(effects, bool(meta.get("frame_for_frame")))
        if retimed:
            return retimed, None
    ref = item.media_reference
    if type(ref) is otio.schema.ExternalReference:  # a media file: the usual case
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


def _time_effect_reason(effects: Any, frame_for_frame: bool = False) -> str | None:
    """Why a clip's time effects stop a frame-exact restyle (None when it plays its media at
    normal speed): the result would have to be retimed the same way, and the bridge does
    not guess how the editor's application interpolates. A constant speed the reader knows
    the editor plays frame for frame (``frame_for_frame``: Final Cut's Automatic Speed
    between 29.97 and 30 fps...) is no obstacle: each record frame is a media frame."""
    if not effects:  # most clips (read by index below: see :mod:`.walk`)
        return None
    for effect in effects[:]:
        if isinstance(effect, otio.schema.LinearTimeWarp) and frame_for_frame:
            continue
        if isinstance(effect, otio.schema.LinearTimeWarp):
            scalar = effect.time_scalar
            if scalar == 0:
                return "freeze frame (speed 0%): there is no motion to restyle"
            if scalar < 0:
                return f"reversed (speed {scalar * 100:g}%): render the reverse or remove it first"
            if scalar != 1:
                return f"retimed (speed {scalar * 100:g}%): render the speed change or reset it"
        elif isinstance(effect, otio.schema.FreezeFrame):
            return "freeze frame: there is no motion to restyle"
        elif isinstance(effect, otio.schema.TimeEffect):
            return f"time effect {effect.effect_name!r}: render it first"
        elif _is_time_remap(effect):
            return "retimed (time remap): render the speed change or reset it"
    return None


def _is_time_remap(effect: Any) -> bool:
    value = metadata_get(effect.metadata, "fcp_xml")
    text = str(value if value is not None else "").lower() + effect.effect_name.lower()
    return "timeremap" in text or "time remap" in text


def _source_range(
    item: Any, meta: dict[str, Any], handles: int, media_start: MediaStart | None,
    media_exists: Callable[[str], bool] | None,
) -> tuple[SourceRange, str] | str:
    """The frames of its media file a clip shows, with the handles its media has around
    them -- or why the clip cannot be restyled (a sentence for the editor).

    Frames count from the file's first frame: a clip's source times are in the media's
    timecode, and the media's available range says where that timecode starts (else
    ``media_start`` asks the file, else it is assumed to start at 00:00:00:00).
    """
    reason, ref = _cannot_restyle(item, meta)
    if reason:
        return reason
    url = getattr(ref, "target_url", "")
    path = path_from_url(url) if url else None
    if not path:
        return f"media is not a local file ({url or 'no path'}): download it and relink"
    if path.lower().endswith(_NOT_MOVIES):  # a quick look first: most paths are movies
        suffix = posixpath.splitext(path)[1].lower()
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
    length: int | None = None
    if available_length is not None and available_length.value > 0:
        at_media_rate = frame_counter(available_length.rate)
        if not meta.get("media_start_unknown"):  # (else the range is the clip's: Resolve)
            origin = at_media_rate(available.start_time)
            length = at_media_rate(available_length)  # read once above
    else:
        at_media_rate = frame_counter(trimmed.duration.rate)
    if length is None:  # the timeline does not say where the file starts: ask the file
        first = media_start(path) if media_start else None
        origin = 0 if first is None else at_media_rate(first)
        if first is None:
            note = "media start timecode unknown; assumed the file starts at 00:00:00:00"
    if meta.get("frame_for_frame"):  # one media frame per record frame (see the reader)
        start = at_media_rate(trimmed.start_time) - origin
        count = frame_counter(trimmed.duration.rate)(trimmed.duration)
    else:
        start, count = at_media_rate.span(trimmed)
        start -= origin
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
    return SourceRange(path, start, count, at_media_rate.text, before, after), note


# --------------------------------------------------------------------------- helpers


def _int_or_text(value: str) -> int | str:
    value = value.strip()
    return int(value) if value.isdigit() else value


def _start_frames(timeline: otio.schema.Timeline, rate: Fraction) -> int:
    start = timeline.global_start_time
    return frame_counter(rate)(start) if start is not None else 0


_TIMECODE = re.compile(r"^\d{1,2}:\d{2}:\d{2}[:;]\d{2}$")


def _resolve_range(span: tuple[int | str, int | str], rate: Fraction,
                   start: int) -> tuple[int, int]:
    """Frames from the timeline start; timecodes are absolute (01:00:10:00 = 10 s in)."""
    def one(value: int | str) -> int:
        if isinstance(value, int):
            return value
        if _TIMECODE.match(value):
            return frame_counter(rate)(otio.opentime.from_timecode(value, float(rate))) - start
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
