"""Gaps a generated B-roll can fill (``timeline.gaps``; the API's chain requests use it)."""

from __future__ import annotations

from fractions import Fraction

import opentimelineio as otio

from kling_bridge.timeline.gaps import gap_after

RATE = Fraction(24000, 1001)


def _item(kind: type, frames: int, name: str = "") -> otio.core.Item:
    rng = otio.opentime.TimeRange(otio.opentime.RationalTime(0, float(RATE)),
                                  otio.opentime.RationalTime(frames, float(RATE)))
    return kind(name=name, source_range=rng)


def _timeline() -> otio.schema.Timeline:
    timeline = otio.schema.Timeline()
    sound = otio.schema.Track(kind=otio.schema.TrackKind.Audio)
    sound.extend([_item(otio.schema.Clip, 10), _item(otio.schema.Gap, 5)])
    v1 = otio.schema.Track()
    v1.extend([_item(otio.schema.Clip, 48, "a"), _item(otio.schema.Gap, 24),
               _item(otio.schema.Clip, 30, "b"),
               otio.schema.Transition(in_offset=otio.opentime.RationalTime(6, float(RATE)),
                                      out_offset=otio.opentime.RationalTime(6, float(RATE))),
               _item(otio.schema.Clip, 20, "c"), _item(otio.schema.Gap, 12),
               _item(otio.schema.Clip, 8, "d")])
    v2 = otio.schema.Track()
    v2.extend([_item(otio.schema.Gap, 100), _item(otio.schema.Clip, 10, "e")])
    timeline.tracks.extend([sound, v1, v2])
    return timeline


def test_the_first_gap_at_or_after_a_frame_on_the_video_track_asked_for() -> None:
    timeline = _timeline()
    assert gap_after(timeline, 0, 48, RATE) == (48, 24)  # audio tracks are not counted
    assert gap_after(timeline, 0, 49, RATE) == (122, 12)  # a transition moves nothing
    assert gap_after(timeline, 0, 0, RATE) == (48, 24)
    assert gap_after(timeline, 1, 0, RATE) == (0, 100)


def test_no_gap_there_is_none() -> None:
    timeline = _timeline()
    assert gap_after(timeline, 0, 123, RATE) is None  # the open end is not a gap
    assert gap_after(timeline, 1, 1, RATE) is None
    assert gap_after(timeline, 5, 0, RATE) is None  # no such track
