"""Hand-built timelines the way editors make them: an hour start, camera timecode, handles.

One shape at every rate the bridge must get right (23.976, 24, 25, 29.97 DF and NDF, 59.94),
holding each kind of item the selection has to take or refuse.
"""

from __future__ import annotations

from dataclasses import dataclass

import opentimelineio as otio

from kling_bridge.timeline.paths import url_from_path

RATES: dict[str, tuple[float, bool]] = {
    "23.976": (24000 / 1001, False),
    "24": (24.0, False),
    "25": (25.0, False),
    "29.97DF": (30000 / 1001, True),
    "29.97NDF": (30000 / 1001, False),
    "59.94": (60000 / 1001, True),
}
#: More rates for the tests that check every one the issue names (30 fps too).
ALL_RATES: dict[str, tuple[float, bool]] = {**RATES, "30": (30.0, False)}


def hour(rate: float, drop_frame: bool) -> otio.opentime.RationalTime:
    """01:00:00:00 in the rate's own timecode (107892 frames at 29.97 DF, 108000 NDF)."""
    sep = ";" if drop_frame else ":"
    return otio.opentime.from_timecode(f"01:00:00{sep}00", rate)


def rt(frames: float, rate: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(frames, rate)


def tr(start: float, duration: float, rate: float) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(rt(start, rate), rt(duration, rate))


@dataclass(frozen=True)
class Built:
    timeline: otio.schema.Timeline
    rate: float
    start: int  # timeline start frame (01:00:00:00)
    media_start: int  # every camera file's first timecode, in frames


def media(path: str, rate: float, first: int, length: int) -> otio.schema.ExternalReference:
    return otio.schema.ExternalReference(
        target_url=url_from_path(path),
        available_range=tr(first, length, rate),
    )


def clip(name: str, path: str, rate: float, media_first: int, in_frame: int, length: int,
         media_length: int = 400, **meta: object) -> otio.schema.Clip:
    """``in_frame`` counts from the file's first frame; stored as timecode time like editors."""
    item = otio.schema.Clip(
        name=name,
        media_reference=media(path, rate, media_first, media_length),
        source_range=tr(media_first + in_frame, length, rate),
    )
    if meta:
        item.metadata["kling_bridge"] = dict(meta)
    return item


def gap(length: int, rate: float) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=tr(0, length, rate))


def build(label: str, media_dir: str = "/media/cam", from_zero: bool = False) -> Built:
    """V1: shots, a retime, a reverse, a title; V2 "FX": a nested compound, a graded shot.

    Layout (timeline frames from 01:00:00:00; r = round(rate)):
      V1 "Video 1": A001 [0, 2r) | A002 [2r, 5r) | gap r | A003 retimed 50% | A004 reversed |
                    Title (generator)
      V2 "FX":      gap r | nested "Comp 1" 2r | B001 2r (colour Orange, marker "restyle")
      A1 "Audio 1": A001 sound
      stack markers: "kling: aerial city at dusk" 4 s at 3r; two touching prompt markers.
    """
    rate, df = ALL_RATES[label]
    r = round(rate)
    start = hour(rate, df)
    first = int(start.value)  # camera timecode: the files start at 01:00:00:00
    timeline = otio.schema.Timeline(
        name=f"cut {label}", global_start_time=rt(0, rate) if from_zero else start)
    timeline.metadata["kling_bridge"] = {"drop_frame": df}

    v1 = otio.schema.Track(name="Video 1", kind=otio.schema.TrackKind.Video)
    v1.append(clip("A001", f"{media_dir}/A001 take #1.mov", rate, first, 10, 2 * r,
                   selected=True, clip_id="res-a001"))
    v1.append(clip("A002", f"{media_dir}/A002.mov", rate, first, 0, 3 * r, media_length=3 * r))
    v1.append(gap(r, rate))
    retimed = clip("A003", f"{media_dir}/A003.mov", rate, first, 20, r)
    retimed.effects.append(otio.schema.LinearTimeWarp(time_scalar=0.5))
    v1.append(retimed)
    reversed_clip = clip("A004", f"{media_dir}/A004.mov", rate, first, 20, r)
    reversed_clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=-1.0))
    v1.append(reversed_clip)
    v1.append(otio.schema.Clip(
        name="Title", source_range=tr(0, r, rate),
        media_reference=otio.schema.GeneratorReference(generator_kind="Text+")))

    v2 = otio.schema.Track(name="FX", kind=otio.schema.TrackKind.Video)
    v2.append(gap(r, rate))
    nested = otio.schema.Stack(name="Comp 1", source_range=tr(0, 2 * r, rate))
    inner = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    inner.append(clip("C001", f"{media_dir}/C001.mov", rate, first, 0, 2 * r))
    nested.append(inner)
    v2.append(nested)
    b001 = clip("B001", f"{media_dir}/B001.mov", rate, first, 100, 2 * r)
    b001.color = otio.core.Color.ORANGE
    b001.markers.append(otio.schema.Marker(name="restyle", marked_range=tr(first + 110, 0, rate),
                                           color=otio.schema.MarkerColor.RED))
    v2.append(b001)

    a1 = otio.schema.Track(name="Audio 1", kind=otio.schema.TrackKind.Audio)
    a1.append(clip("A001", f"{media_dir}/A001 take #1.mov", rate, first, 10, 2 * r))

    timeline.tracks.extend([v1, v2, a1])
    timeline.tracks.markers.append(otio.schema.Marker(
        name="B-roll", comment="kling: aerial city at dusk", marked_range=tr(3 * r, 4 * r, rate)))
    timeline.tracks.markers.append(otio.schema.Marker(
        name="kling: a hand opens the door", marked_range=tr(10 * r, 2 * r, rate)))
    timeline.tracks.markers.append(otio.schema.Marker(
        name="kling: the hallway beyond", marked_range=tr(12 * r, 3 * r, rate)))
    timeline.tracks.markers.append(otio.schema.Marker(
        name="kling: a cat on a wall", marked_range=tr(20 * r, 0, rate)))
    return Built(timeline=timeline, rate=rate, start=0 if from_zero else first,
                 media_start=first)
