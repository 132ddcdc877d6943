"""Prompt markers -> B-roll generation jobs (pure).

Markers whose note or name starts with ``kling:`` (:data:`PROMPT_PREFIX`) become
generation jobs placed at the marker. Rule for multi-shot: prompt markers that *touch*
(each starts on the frame the previous one ends, both with a length) form one multi-shot
job, up to 6 shots and 15 s, each shot its marker's length rounded to whole seconds (at
least 1; timecode seconds, so 120 frames at 29.97 are 4 s). A zero-length marker asks for
:data:`DEFAULT_SECONDS`; every job is clamped to Kling's 3-15 s, a lone marker's length
rounded up. Markers on the timeline, on tracks and on clips (in the clip's source time)
all count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from kling_bridge.specs import ClipRef, GenerateSpec, Shot
from kling_bridge.timeline.rates import rate_text
from kling_bridge.timeline.walk import frames as _frames
from kling_bridge.timeline.walk import items as _items
from kling_bridge.timeline.walk import listed

PROMPT_PREFIX = "kling:"
DEFAULT_SECONDS = 5
MIN_SECONDS, MAX_SECONDS, MAX_SHOTS = 3, 15, 6


@dataclass(frozen=True)
class _Prompt:
    text: str
    start: int  # timeline frames from the start
    length: int  # frames (0 = a point marker)
    name: str


def prompt_of(marker: Any, prefix: str) -> str | None:
    for text in (marker.comment or "", marker.name or ""):
        stripped = text.strip()
        if stripped.lower().startswith(prefix.lower()):
            return stripped[len(prefix):].strip()
    return None


def _prompt_markers(timeline: otio.schema.Timeline, prefix: str,
                    rate: Fraction) -> list[_Prompt]:
    found: dict[tuple[int, int, str], _Prompt] = {}

    def add(marker: Any, offset: int) -> None:
        text = prompt_of(marker, prefix)
        if not text:
            return
        start = offset + _frames(marker.marked_range.start_time, rate)
        length = _frames(marker.marked_range.duration, rate)
        found.setdefault((start, length, text), _Prompt(text, start, length, marker.name))

    for marker in listed(timeline.tracks.markers):
        add(marker, 0)
    for track in listed(timeline.tracks):
        for marker in listed(track.markers):
            add(marker, 0)
    for kind, _n, _i, _t, item, rec_start, _len in _items(timeline, rate):
        del kind
        for marker in listed(item.markers):
            source_start = _frames(item.trimmed_range().start_time, rate)
            add(marker, rec_start - source_start)
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
    first, last = group[0], group[-1]
    span = last.start + last.length - first.start
    default = max(MIN_SECONDS, min(MAX_SECONDS, criteria.default_seconds))
    named = first.name and not first.name.lower().startswith(criteria.prefix.lower())
    placement = ClipRef(
        clip_id=f"marker-{n}", name=first.name if named else first.text[:60], track_index=-1,
        record_start=first.start,
        record_duration=span if span > 0 else default * round(rate),
        timeline_rate=rate_text(rate),
    )
    if len(group) == 1:
        seconds = math.ceil(_seconds(first.length, rate)) if first.length else default
        return GenerateSpec(prompt=first.text, duration=max(MIN_SECONDS, min(MAX_SECONDS, seconds)),
                            audio=criteria.audio, placement=placement)
    shots = [Shot(prompt=p.text, duration=_shot_seconds(p, rate)) for p in group]
    total = sum(s.duration for s in shots)
    if total < MIN_SECONDS:
        shots[-1] = Shot(shots[-1].prompt, shots[-1].duration + MIN_SECONDS - total)
        total = MIN_SECONDS
    return GenerateSpec(prompt="", shots=tuple(shots), duration=total, audio=criteria.audio,
                        placement=placement)
