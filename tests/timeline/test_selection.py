"""Selection -> jobs, on hand-built timelines at every rate and on the editors' samples."""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from kling_bridge.specs import Look
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.formats import read_timeline
from kling_bridge.timeline.selection import (
    Criteria,
    generate_specs,
    restyle_specs,
    select,
)
from tests.timeline import builders
from tests.timeline.builders import RATES, build


def _by_name(selection):
    return {ref.name: (ref, src) for ref, src in selection.restyles}


@pytest.mark.parametrize("label", list(RATES))
def test_all_clips_at_every_rate(label: str) -> None:
    built = build(label)
    r = round(built.rate)
    before = otio.adapters.otio_json.write_to_string(built.timeline)
    selection = select(built.timeline, Criteria(all_clips=True, handles=12))
    assert otio.adapters.otio_json.write_to_string(built.timeline) == before  # pure

    found = _by_name(selection)
    assert set(found) == {"A001", "A002", "B001"}
    ref, src = found["A001"]
    # source frames count from the file's first frame, not from its 01:00:00:00 timecode
    assert (src.start_frame, src.frame_count) == (10, 2 * r)
    assert (src.handle_before, src.handle_after) == (10, 12)  # clamped at the media start
    assert Fraction(src.rate) == Fraction(built.rate).limit_denominator(1001)
    assert src.path == "/media/cam/A001 take #1.mov"
    assert (ref.record_start, ref.record_duration) == (0, 2 * r)
    assert (ref.clip_id, ref.track_index, ref.track_name) == ("res-a001", 0, "Video 1")
    assert Fraction(ref.timeline_rate) == Fraction(src.rate)

    _ref2, src2 = found["A002"]
    assert (src2.handle_before, src2.handle_after) == (0, 0)  # the whole file is used
    ref3, src3 = found["B001"]
    assert (ref3.record_start, ref3.track_index, ref3.clip_id) == (3 * r, 1, "v2-2")
    assert src3.start_frame == 100

    skipped = dict(selection.skipped)
    assert skipped["A003"].startswith("retimed (speed 50%)")
    assert skipped["A004"].startswith("reversed")
    assert "generator or title (Text+)" in skipped["Title"]
    assert skipped["Comp 1"].startswith("nested/compound")
    assert any("audio tracks" in n for n in selection.notes)


def test_default_takes_plugin_marked_clips() -> None:
    selection = select(build("24").timeline)
    assert [ref.clip_id for ref, _ in selection.restyles] == ["res-a001"]


@pytest.mark.parametrize(
    ("criteria", "names"),
    [
        (Criteria(colours=("orange",)), {"B001"}),
        (Criteria(tracks=("FX",)), {"B001"}),
        (Criteria(tracks=("V1",)), {"A001", "A002"}),
        (Criteria(tracks=("2",)), {"B001"}),
        (Criteria(markers=("restyle",)), {"B001"}),
        (Criteria(markers=("RED",)), {"B001"}),
        (Criteria(time_range=(0, 24)), {"A001"}),
        (Criteria(time_range=(47, 49)), {"A001", "A002"}),
        (Criteria(time_range=("01:00:03:00", "01:00:04:00")), {"A002", "B001"}),
        (Criteria(tracks=("V1",), time_range=(48, 60)), {"A002"}),
        (Criteria.parse("colour:Orange,Teal"), {"B001"}),
        (Criteria.parse("track:Video 1", "range:0-10"), {"A001"}),
        (Criteria.parse("marked"), {"A001"}),
    ],
)
def test_criteria(criteria: Criteria, names: set[str]) -> None:
    selection = select(build("24").timeline, criteria)
    assert {ref.name for ref, _ in selection.restyles} == names


def test_premiere_label_colour_is_a_clip_colour(samples: Path) -> None:
    timeline = read_timeline(samples / "premiere_example.xml").timeline
    iris = select(timeline, Criteria(colours=("iris",), generations=False))
    assert len(iris.restyles) == 6 and not iris.skipped
    # the Lavender item is a title: chosen by colour, then reported by name
    with pytest.raises(TimelineError, match="'test_title': generator or title"):
        select(timeline, Criteria(colours=("Lavender",), generations=False))


def test_media_start_callback_when_timeline_has_no_available_range() -> None:
    built = build("25")
    for item in built.timeline.find_clips():
        if hasattr(item.media_reference, "available_range"):
            item.media_reference.available_range = None
    asked: list[str] = []

    def media_start(path: str) -> otio.opentime.RationalTime:
        asked.append(path)
        return otio.opentime.from_timecode("01:00:00:00", 25)

    found = _by_name(select(built.timeline, Criteria(all_clips=True, handles=5), media_start))
    assert found["A001"][1].start_frame == 10
    assert "/media/cam/A001 take #1.mov" in asked
    # without the callback the file is assumed to start at 0, and the selection says so
    plain = select(built.timeline, Criteria(all_clips=True))
    assert _by_name(plain)["A001"][1].start_frame == 90000 + 10
    assert any("assumed the file starts at 00:00:00:00" in n for n in plain.notes)


def test_media_exists_callback_skips_offline_clips() -> None:
    selection = select(build("24").timeline, Criteria(all_clips=True),
                       media_exists=lambda path: "A002" not in path)
    assert "media not found at /media/cam/A002.mov" in dict(selection.skipped)["A002"]


def test_prompt_markers_become_generations() -> None:
    built = build("29.97NDF")
    r = 30
    gens = select(built.timeline, Criteria(all_clips=True)).generations
    assert len(gens) == 3
    single, multi, point = gens
    assert (single.prompt, single.duration, single.audio) == ("aerial city at dusk", 4, True)
    assert single.placement is not None
    assert (single.placement.record_start, single.placement.record_duration) == (3 * r, 4 * r)
    # two touching markers: one multi-shot job
    assert multi.prompt == "" and [(s.prompt, s.duration) for s in multi.shots] == [
        ("a hand opens the door", 2), ("the hallway beyond", 3)]
    assert multi.placement is not None and point.placement is not None
    assert multi.duration == 5 and multi.placement.record_duration == 5 * r
    # a point marker asks for the default 5 s
    assert (point.prompt, point.duration, point.placement.record_duration) == (
        "a cat on a wall", 5, 5 * r)


def test_generation_durations_clamped_and_shots_capped() -> None:
    timeline = otio.schema.Timeline(name="m", global_start_time=otio.opentime.RationalTime(0, 24))
    track = otio.schema.Track(name="V1")
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(24 * 120, 24))))
    timeline.tracks.append(track)

    def mark(start_s: float, length_s: float, text: str) -> None:
        track.markers.append(otio.schema.Marker(
            name=f"kling: {text}", marked_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(start_s * 24, 24),
                otio.opentime.RationalTime(length_s * 24, 24))))

    mark(0, 1, "too short")  # 1 s alone -> 3 s job
    mark(10, 40, "too long")  # 40 s -> 15 s job
    for n in range(8):  # eight touching 1 s markers -> a 6-shot job and a 2-shot job
        mark(60 + n, 1, f"shot {n}")
    gens = select(timeline).generations
    assert [g.duration for g in gens] == [3, 15, 6, 3]
    assert [len(g.shots) for g in gens] == [0, 0, 6, 2]
    assert gens[3].shots[-1].duration == 2  # padded to Kling's 3 s minimum


def test_clip_marker_prompt_placed_in_timeline_time() -> None:
    built = build("25")
    b001 = next(c for c in built.timeline.find_clips() if c.name == "B001")
    b001.markers.append(otio.schema.Marker(
        name="note", comment="KLING: smoke rises",
        marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(built.start + 105, 25),
                                             otio.opentime.RationalTime(75, 25))))
    gens = select(built.timeline, Criteria(tracks=("FX",))).generations
    smoke = next(g for g in gens if g.prompt == "smoke rises")
    # B001 sits at 3 s (75 frames) and uses the file from frame 100: marker at 105 -> 80
    assert smoke.placement is not None
    assert smoke.placement.record_start == 80
    assert smoke.duration == 3


def test_variants_multiply_jobs() -> None:
    selection = select(build("24").timeline, Criteria(all_clips=True))
    specs = restyle_specs(selection, [Look(preset="film-noir"), Look(prompt="oil paint")],
                          variants=2, resolution="720p")
    assert len(specs) == 3 * 2 * 2
    assert {(s.look.label, s.variant) for s in specs} == {
        ("film-noir", 0), ("film-noir", 1), ("custom", 0), ("custom", 1)}
    assert all(s.clip is not None and s.resolution == "720p" for s in specs)
    assert [g.variant for g in generate_specs(selection, 2)] == [0, 1] * 3


def test_empty_selections_are_clear_errors() -> None:
    timeline = build("24").timeline
    for clip in timeline.find_clips():
        clip.metadata.pop("kling_bridge", None)
    timeline.tracks.markers.clear()
    with pytest.raises(TimelineError, match="no clip is marked") as caught:
        select(timeline, source="cut.otio")
    assert str(caught.value).startswith("cut.otio:") and "--select all" in str(caught.value)
    with pytest.raises(TimelineError, match="matched no clip") as caught:
        select(timeline, Criteria(colours=("Teal",)))
    assert "colour Teal" in str(caught.value)
    with pytest.raises(TimelineError, match="unknown selection"):
        Criteria.parse("everything")


def test_all_skipped_names_each_item(samples: Path) -> None:
    timeline = read_timeline(samples / "premiere_generators.xml").timeline
    with pytest.raises(TimelineError) as caught:
        select(timeline, Criteria(all_clips=True), source="premiere_generators.xml")
    text = str(caught.value)
    for name in ("Universal Counting Leader", "Black Video", "Blue Matte", "HD Bars and Tone"):
        assert name in text
    assert "generator or title" in text


def test_samples_report_unrestylable_items_by_name(samples: Path) -> None:
    hiero = select(read_timeline(samples / "hiero_xml_export.xml").timeline,
                   Criteria(all_clips=True))
    assert dict(hiero.skipped)["/"].startswith("retimed (time remap)")
    assert [ref.name for ref, _ in hiero.restyles] == ["A160C005_171213_R0MN"]
    # Hiero: media timecode 12:44:37:23, clip uses it from the first frame
    assert hiero.restyles[0][1].start_frame == 0

    fcpx = select(read_timeline(samples / "fcpx_project.fcpxml").timeline,
                  Criteria(all_clips=True))
    assert dict(fcpx.skipped)["compound_clip_1"].startswith("nested/compound")

    premiere = select(read_timeline(samples / "premiere_example.xml").timeline,
                      Criteria(all_clips=True))
    assert "generator or title" in dict(premiere.skipped)["test_title"]
    assert dict(premiere.skipped)["sc01_sh010_anim"].startswith("nested/compound")
    # the 15 fps clip item over a 30 fps file: frames counted at the media's rate
    first = next(src for ref, src in premiere.restyles if ref.record_start == 536)
    assert (first.rate, first.frame_count) == ("30", 100)
    assert first.path == "D:/media/sc01_sh010_anim.mov"


def test_what_the_editor_switched_off_in_an_otio_cut_is_skipped_with_its_reason() -> None:
    """An OTIO cut (Kdenlive, Resolve, our plugins): a clip switched off, a track switched
    off, a still on a track -- each left out by name with why, the rest restyled."""
    rate = 25.0
    v1 = otio.schema.Track(name="V1")
    v1.append(builders.clip("A001", "/media/A001.mov", rate, 0, 10, 50))
    off = builders.clip("A002", "/media/A002.mov", rate, 0, 10, 50)
    off.enabled = False
    v1.append(off)
    v1.append(builders.clip("logo", "/media/logo.png", rate, 0, 0, 25))
    v2 = otio.schema.Track(name="V2 graded")
    v2.append(builders.clip("A003", "/media/A003.mov", rate, 0, 10, 50))
    v2.enabled = False
    timeline = otio.schema.Timeline(name="cut")
    timeline.tracks.extend([v1, v2])
    found = select(timeline, Criteria(all_clips=True))
    assert [ref.name for ref, _ in found.restyles] == ["A001"]
    why = dict(found.skipped)
    assert why["A002"].startswith("disabled in the timeline")
    assert why["logo"].startswith("still image")
    assert why["A003"].startswith("its track (V2 graded) is switched off")
    assert set(why) == {"A002", "logo", "A003"}


def test_speed_effects_edl_relinked_reports_retimes(samples: Path) -> None:
    timeline = copy.deepcopy(read_timeline(samples / "speed_effects.edl").timeline)
    for clip in timeline.find_clips():
        clip.media_reference = otio.schema.ExternalReference(
            target_url=f"/stand-in/{clip.name.split(' ')[0]}.mov")
    selection = select(timeline, Criteria(all_clips=True), lambda p: None)
    skipped = dict(selection.skipped)
    assert skipped["Z694_54 (LAY5) (48.00 FPS)"].startswith("retimed (speed 200%)")
    assert skipped["Z682_156 (LAY3)"].startswith("freeze frame")
    assert len(selection.restyles) + len(selection.skipped) == 548
