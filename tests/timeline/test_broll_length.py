"""B-roll from ``kling:`` markers fits its place on the timeline (issue 10).

Generated B-roll placed on a timeline is conformed to the timeline's rate (it used to stay
at Kling's 24 fps on a 25 fps timeline) and ends where the marker -- or, for a point marker,
the cut under it -- ends, unless the words ask for a length (``kling: 4s ...``). Kling
generates whole seconds (3-15): the job asks for enough, the conform cuts it to the frame.
"""

from __future__ import annotations

import opentimelineio as otio

from kling_bridge.specs import ConformTarget, GenerateSpec
from kling_bridge.timeline import Criteria, select

R = 25


def t(frames: int) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(frames, R)


def tr(start: int, length: int) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(t(start), t(length))


def shot(name: str, length: int) -> otio.schema.Clip:
    ref = otio.schema.ExternalReference(target_url=f"file:///media/{name}.mov",
                                        available_range=tr(0, 1000))
    return otio.schema.Clip(name=name, media_reference=ref, source_range=tr(100, length))


def timeline() -> otio.schema.Timeline:
    """V1: S1 [0, 200) | gap [200, 300) | S2 [300, 700); V2: gap [0, 50) | T1 [50, 130)."""
    tl = otio.schema.Timeline(name="broll", global_start_time=t(0))
    v1 = otio.schema.Track(name="V1")
    v1.extend([shot("S1", 200), otio.schema.Gap(source_range=tr(0, 100)), shot("S2", 400)])
    v2 = otio.schema.Track(name="V2")
    v2.extend([otio.schema.Gap(source_range=tr(0, 50)), shot("T1", 80)])
    tl.tracks.extend([v1, v2])
    return tl


def marker(text: str, start: int, length: int = 0) -> otio.schema.Marker:
    return otio.schema.Marker(name="B-roll", comment=f"kling: {text}",
                              marked_range=tr(start, length))


def generations(tl: otio.schema.Timeline) -> dict[str, GenerateSpec]:
    gens = select(tl, Criteria(all_clips=True)).generations
    return {(g.prompt or g.shots[0].prompt): g for g in gens}


def frames_and_seconds(g: GenerateSpec) -> tuple[int | None, int, int]:
    assert g.conform is not None and g.placement is not None
    assert g.conform.frames == g.placement.record_duration
    return g.conform.frames, g.duration, g.placement.record_start


def test_broll_is_conformed_to_the_timeline_rate_and_ends_with_its_marker() -> None:
    tl = timeline()
    tl.tracks.markers.extend([
        marker("rain on a tin roof", 10, 60),  # 2.4 s: Kling makes 3 s, cut to 60 frames
        marker("storm clouds", 300, 1000),  # 40 s: Kling's longest, 15 s
    ])
    gens = generations(tl)
    rain = gens["rain on a tin roof"]
    assert rain.conform == ConformTarget("25", 0, 0, frames=60)  # the timeline's 25 fps
    assert frames_and_seconds(rain) == (60, 3, 10)
    assert frames_and_seconds(gens["storm clouds"]) == (15 * R, 15, 300)


def test_a_point_marker_ends_where_the_cut_under_it_ends() -> None:
    tl = timeline()
    tl.tracks.markers.extend([
        marker("gulls", 20),  # over S1 only: S1 ends at 200
        marker("neon", 60),  # over S1 and T1: the topmost (V2's T1) ends at 130
        marker("empty street", 220),  # in the gap: nothing to end on, the default 5 s
    ])
    s2 = tl.tracks[0][2]
    s2.markers.append(marker("a door opens", 150))  # on S2 (source frame 150 -> 350): to 700
    gens = generations(tl)
    assert frames_and_seconds(gens["gulls"]) == (180, 8, 20)
    assert frames_and_seconds(gens["neon"]) == (70, 3, 60)  # 2.8 s: 3 s made, 70 kept
    assert frames_and_seconds(gens["empty street"]) == (5 * R, 5, 220)
    assert frames_and_seconds(gens["a door opens"]) == (350, 14, 350)


def test_words_that_ask_for_a_length_win() -> None:
    tl = timeline()
    tl.tracks.markers.extend([
        marker("4s rain on a tin roof", 10, 250),  # asks 4 s on a 10 s marker
        marker("2.5 sec: gulls", 300),  # a point marker asking 2.5 s (Kling makes 3)
    ])
    gens = generations(tl)
    assert frames_and_seconds(gens["rain on a tin roof"]) == (100, 4, 10)
    assert frames_and_seconds(gens["gulls"]) == (62, 3, 300)  # 62.5 -> 62 frames


def test_touching_markers_make_one_shot_list_that_reaches_the_last_marker_end() -> None:
    tl = timeline()
    # 2.4 s + 2.4 s: each shot rounds to 2 s, so the last one runs on to cover 4.8 s
    tl.tracks.markers.extend([marker("a hand opens the door", 300, 60),
                              marker("the hallway beyond", 360, 60)])
    (multi,) = generations(tl).values()
    assert [s.duration for s in multi.shots] == [2, 3] and multi.duration == 5
    assert frames_and_seconds(multi) == (120, 5, 300)
