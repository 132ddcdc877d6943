"""Prompt markers -> B-roll generation jobs (pure).

Markers whose note or name starts with ``kling:`` (:data:`PROMPT_PREFIX`) become
generation jobs placed at the marker. Rule for multi-shot: prompt markers that *touch*
(each starts on the frame the previous one ends, both with a length) form one multi-shot
job, up to 6 shots and 15 s, each shot its marker's length rounded to whole seconds (at
least 1; timecode seconds, so 120 frames at 29.97 are 4 s). Markers on the timeline, on
tracks and on clips (in the clip's source time) all count.

How long the B-roll is, on the timeline: it ends where the marker ends (a ranged marker or
a run of them), or -- for a point marker -- where the cut under it ends (the clip the
marker is on, else the topmost video clip at that frame; :data:`DEFAULT_SECONDS` when
there is none). Words that start with a length ask for that length instead
(``kling: 4s rain on a tin roof``). Kling generates whole seconds (3-15), so the job asks
for the length rounded up and clamped, and the result is conformed to the timeline's rate
and cut to exactly the frames asked (:class:`~kling_bridge.specs.ConformTarget`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from kling_bridge.specs import ClipRef, ConformTarget, GenerateSpec, Shot
from kling_bridge.timeline.rates import frame_counter, rate_text
from kling_bridge.timeline.walk import placed_items

PROMPT_PREFIX = "kling:"
DEFAULT_SECONDS = 5
MIN_SECONDS, MAX_SECONDS, MAX_SHOTS = 3, 15, 6


#: ``kling: 4s words`` / ``kling: 4 s: words`` / ``kling: 2.5 sec words``: a length asked.
_ASKED = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b\s*[:,-]?\s*", re.I)


@dataclass(frozen=True)
class _Prompt:
    text: str
    start: int  # timeline frames from the start
    length: int  # frames (0 = a point marker)
    name: str
    cut_end: int | None = None  # where the cut under a point marker ends (timeline frames)
    asked: float | None = None  # seconds the words ask for ("kling: 4s ...")


def prompt_of(marker: Any, prefix: str) -> str | None:
    for text in (marker.comment or "", marker.name or ""):
        stripped = text.strip()
        if stripped.lower().startswith(prefix.lower()):
            return stripped[len(prefix):].strip()
    return None


def _prompt_markers(timeline: otio.schema.Timeline, prefix: str,
                    rate: Fraction) -> list[_Prompt]:
    found: dict[tuple[int, int, str], _Prompt] = {}
    at_rate = frame_counter(rate)
    placed = list(placed_items(timeline, rate))
    clips = [(p.number, p.start, p.start + p.length) for p in placed  # the video cuts
             if p.kind == otio.schema.TrackKind.Video and isinstance(p.item, otio.schema.Clip)]

    def cut_end_at(frame: int) -> int | None:
        under = [(n, end) for n, begin, end in clips if begin <= frame < end]
        return max(under)[1] if under else None  # the topmost track's clip

    def add(marker: Any, offset: int, owner_end: int | None = None) -> None:
        text = prompt_of(marker, prefix)
        if not text:
            return
        asked = None
        m = _ASKED.match(text)
        if m and text[m.end():].strip():
            asked, text = float(m.group(1)), text[m.end():].strip()
        start = offset + at_rate(marker.marked_range.start_time)
        length = at_rate(marker.marked_range.duration)
        end = owner_end if owner_end is not None and owner_end > start else cut_end_at(start)
        found.setdefault((start, length, text),
                         _Prompt(text, start, length, marker.name, end, asked))

    for marker in timeline.tracks.markers:
        add(marker, 0)
    for track in timeline.tracks:
        for marker in track.markers:
            add(marker, 0)
    for where in placed:  # a clip's markers are in its source time
        for marker in where.item.markers[:]:
            source_start = at_rate(where.item.trimmed_range().start_time)
            add(marker, where.start - source_start, where.start + where.length)
    return sorted(found.values(), key=lambda p: (p.start, p.length))


@dataclass(frozen=True)
class PromptRules:
    prefix: str = PROMPT_PREFIX
    multishot: bool = True
    audio: bool = True
    default_seconds: int = DEFAULT_SECONDS


def generations(timeline: otio.schema.Timeline, criteria: PromptRules, rate: Fraction,
                window: tuple[int, int] | None = None) -> list[GenerateSpec]:
    """One GenerateSpec per prompt marker or run of touching ones (see module doc)."""
    prompts = _prompt_markers(timeline, criteria.prefix, rate)
    if window is not None:
        prompts = [p for p in prompts if window[0] <= p.start < window[1]]
    groups: list[list[_Prompt]] = []
    for prompt in prompts:
        last = groups[-1] if groups else None
        if (criteria.multishot and last and last[-1].length > 0 and prompt.length > 0
                and abs(prompt.start - (last[-1].start + last[-1].length)) <= 1
                and len(last) < MAX_SHOTS
                and sum(_shot_seconds(p, rate) for p in last) + _shot_seconds(prompt, rate)
                <= MAX_SECONDS):
            last.append(prompt)
        else:
            groups.append([prompt])
    return [_spec_for(group, criteria, rate, n) for n, group in enumerate(groups, 1)]


def _seconds(frames: int, rate: Fraction) -> Fraction:
    """Timecode seconds (120 frames at 29.97 are the editor's "4 seconds", not 4.004)."""
    return Fraction(frames, round(rate))


def _shot_seconds(prompt: _Prompt, rate: Fraction) -> int:
    return max(1, round(_seconds(prompt.length, rate)))


def _spec_for(group: list[_Prompt], criteria: PromptRules, rate: Fraction,
              n: int) -> GenerateSpec:
    first = group[0]
    default = max(MIN_SECONDS, min(MAX_SECONDS, criteria.default_seconds))
    named = first.name and not first.name.lower().startswith(criteria.prefix.lower())
    frames = _timeline_frames(group, rate, default)
    needed = max(MIN_SECONDS, min(MAX_SECONDS, math.ceil(_seconds(frames, rate))))
    conform = ConformTarget(rate_text(rate), 0, 0, frames=frames)  # 0 x 0: Kling's picture
    placement = ClipRef(
        clip_id=f"marker-{n}", name=first.name if named else first.text[:60], track_index=-1,
        record_start=first.start, record_duration=frames, timeline_rate=rate_text(rate),
    )
    if len(group) == 1:
        return GenerateSpec(prompt=first.text, duration=needed, audio=criteria.audio,
                            placement=placement, conform=conform)
    shots = [Shot(prompt=p.text, duration=_shot_seconds(p, rate)) for p in group]
    total = sum(s.duration for s in shots)
    if total < needed:  # shots rounded down: the last one runs to the marker's end
        shots[-1] = Shot(shots[-1].prompt, shots[-1].duration + needed - total)
        total = needed
    return GenerateSpec(prompt="", shots=tuple(shots), duration=total, audio=criteria.audio,
                        placement=placement, conform=conform)


def _timeline_frames(group: list[_Prompt], rate: Fraction, default: int) -> int:
    """Frames the B-roll fills on the timeline (see the module docstring), at most 15 s."""
    first, last = group[0], group[-1]
    if len(group) == 1 and first.asked is not None:
        frames = round(Fraction(first.asked).limit_denominator(1000) * round(rate))
    elif len(group) > 1 or first.length:
        frames = last.start + last.length - first.start
    elif first.cut_end is not None and first.cut_end > first.start:
        frames = first.cut_end - first.start
    else:
        frames = default * round(rate)
    return max(1, min(MAX_SECONDS * round(rate), frames))
