"""Gaps in a cut, for B-roll that fills one (pure: a timeline in, frame numbers out)."""

from __future__ import annotations

from fractions import Fraction

import opentimelineio as otio

from kling_bridge.timeline.walk import frames, listed


def gap_after(timeline: otio.schema.Timeline, track_index: int, after_frame: int,
              rate: Fraction) -> tuple[int, int] | None:
    """``(start, length)`` in timeline frames of the first gap on video track
    ``track_index`` (0-based, as :class:`~kling_bridge.specs.ClipRef` counts) that starts at
    or after ``after_frame``; None when the track has none there (its open end is not a gap:
    nothing says how long the B-roll should be)."""
    number = 0
    for track in listed(timeline.tracks):
        if not isinstance(track, otio.schema.Track) or track.kind != otio.schema.TrackKind.Video:
            continue
        if number != track_index:
            number += 1
            continue
        position = 0
        for item in listed(track):
            if isinstance(item, otio.schema.Transition):
                continue
            begin = position
            position += frames(item.duration(), rate)
            if isinstance(item, otio.schema.Gap) and begin >= after_frame and position > begin:
                return begin, position - begin
        return None
    return None
