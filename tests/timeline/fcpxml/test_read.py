"""Reading FCPXML: what Final Cut and Resolve write (tests/samples), and cuts at every rate.

Numbers asserted here were worked out from the XML by hand (see each comment), not taken
from the reader.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from kling_bridge.timeline import read_timeline, read_timeline_text
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.paths import path_from_url
from kling_bridge.timeline.rates import exact_rate, timeline_rate
from kling_bridge.timeline.selection import Criteria, select
from tests.timeline.fcpxml.cuts import PLAYS, PROMPTS, SKIPPED, Cut, all_cuts, cut_id

FCPXML_SAMPLES = [
    # file, version, exact rate, start frame, drop frame, restyles, skipped
    ("fcp111_2398_storyline_audition.fcpxml", "1.11", Fraction(24000, 1001), 0, False, 6, 4),
    ("fcp111_2997df_compound_retime.fcpxml", "1.11", Fraction(30000, 1001), 0, True, 8, 4),
    ("fcp110_25i_storyline.fcpxml", "1.10", Fraction(25), 0, False, 8, 4),
    ("fcp111_60_transitions_conform.fcpxml", "1.11", Fraction(60), 0, False, 8, 14),
    ("fcp111_24_with_25_media_1h.fcpxml", "1.11", Fraction(24), 86400, False, 0, 2),
    ("fcp111_2398_multicam_1h.fcpxml", "1.11", Fraction(24000, 1001), 86400, False, 2, 0),
    ("fcp111_25_syncclip_1h.fcpxml", "1.11", Fraction(25), 90000, False, 1, 0),
    ("fcp111_24_disabled_titles.fcpxml", "1.11", Fraction(24), 0, False, 1, 3),
    ("fcp111_25_compound_generators_1h.fcpxml", "1.11", Fraction(25), 90000, False, 0, 2),
    ("fcp19_2997_markers_1h.fcpxml", "1.9", Fraction(30000, 1001), 108000, False, 0, 1),
    ("fcp113_24_transitions_disabled_1h.fcpxml", "1.13", Fraction(24), 86400, False, 0, 2),
    ("fcp113_2398_multicam_cuts.fcpxml", "1.13", Fraction(24000, 1001), 0, False, 5, 2),
    ("fcp113_2398_audition.fcpxml", "1.13", Fraction(24000, 1001), 0, False, 1, 0),
    ("fcp114_25_hidden_markers.fcpxml", "1.14", Fraction(25), 0, False, 0, 2),
    ("fcp113_30_gopro_transitions.fcpxmld", "1.13", Fraction(30), 0, False, 3, 0),
    ("fcp113_30_multi_workout.fcpxml", "1.13", Fraction(30), 0, False, 3, 0),
    ("resolve111_90_immersive.fcpxmld", "1.11", Fraction(90), 0, False, 3, 0),
    ("resolve19_25_cuts_1h.fcpxml", "1.9", Fraction(25), 90000, False, 173, 0),
    ("fcpx_project.fcpxml", "1.8", Fraction(30), 0, False, 8, 2),
]


def _selection(timeline: otio.schema.Timeline) -> tuple[list[Any], list[Any]]:
    try:
        found = select(timeline, Criteria(all_clips=True, generations=False))
    except TimelineError as exc:  # nothing restyleable: the reasons are in the message
        return [], [str(exc)]
    return found.restyles, found.skipped


@pytest.mark.parametrize(("name", "version", "rate", "start", "drop", "restyles", "skipped"),
                         FCPXML_SAMPLES)
def test_real_exports_read(samples: Path, name: str, version: str, rate: Fraction, start: int,
                           drop: bool, restyles: int, skipped: int) -> None:
    result = read_timeline(samples / name)
    timeline = result.timeline
    assert result.format == "fcpx_xml"
    assert timeline.metadata["fcpxml"]["version"] == version
    assert timeline_rate(timeline) == rate  # exactly the format's frameDuration
    assert timeline.global_start_time.value == start
    assert timeline.metadata["kling_bridge"]["drop_frame"] is drop
    found, left_out = _selection(timeline)
    assert len(found) == restyles
    if restyles:
        assert len(left_out) == skipped
    # media every clip names is found in media-rep (1.9+) or src (1.8): none is "offline"
    assert not any("offline" in issue.reason for issue in result.issues)


def test_connected_storyline_counts_from_the_parents_start(samples: Path) -> None:
    """23.98.fcpxml: the storyline hangs from a clip at offset 2726724/24000s (frame 2724)
    whose start is 4292288/24000s; the storyline's offset 571571/3000s is 11.678 s (280
    frames) into that clip: it plays from frame 3004 -- the adapter put it at 2724 + 4568."""
    timeline = read_timeline(samples / "fcp111_2398_storyline_audition.fcpxml").timeline
    refs = {ref.clip_id: ref for ref, _src in select(timeline, Criteria(all_clips=True)).restyles}
    lane_1 = sorted((r.record_start, r.record_duration) for r in refs.values()
                    if r.track_name == "Lane 1")
    assert lane_1 == [(3093, 374), (4973, 375)]  # 3004 + 89089/24000 s (89 frames)
    storyline = next(t for t in timeline.tracks if t.name == "Lane 1")
    first = next(c for c in storyline if isinstance(c, otio.schema.Clip))
    assert first.name == "TestVideo"
    assert first.range_in_parent().start_time.value == 3004  # the retimed one (skipped)


def test_audition_plays_its_active_pick_only(samples: Path) -> None:
    """The audition at 760760/24000s (frame 760) plays TestVideo2 for 646646/24000s (646
    frames); the next clip starts at 1407406/24000s = frame 1406 = 760 + 646. The
    inactive pick (TestVideo, 901901/24000s = 37.6 s) is nowhere."""
    timeline = read_timeline(samples / "fcp111_2398_storyline_audition.fcpxml").timeline
    primary = timeline.tracks[0]
    clips = [c for c in primary if isinstance(c, otio.schema.Clip)]
    assert [(c.name, c.range_in_parent().start_time.value, c.duration().value)
            for c in clips[:3]] == [("TestVideo", 0, 760), ("TestVideo2", 760, 646),
                                    ("TestVideo", 1406, 624)]
    assert not any(c.duration().value == 901 for c in timeline.find_clips())


def test_retimes_and_speed_conforms_are_refused_per_clip(samples: Path) -> None:
    timeline = read_timeline(samples / "fcp111_2398_storyline_audition.fcpxml").timeline
    selection = select(timeline, Criteria(all_clips=True))
    reasons = [why for _name, why in selection.skipped]
    # timeMap 0s->0s, 65872008/360000s->149819760/360000s: 227.4 %
    assert "retimed (speed 227.4%)" in reasons[1]
    assert "Modify > Retime" in reasons[1]
    # 25 fps media (conform-rate srcFrameRate="25") played at 23.976: 95.9 %, and nothing
    # shows Final Cut plays it frame for frame (only 1001/1000 changes are restyled)
    assert "plays its 25 fps media at 23.98 fps" in reasons[0]
    assert len(selection.restyles) == 6  # the rest of the file goes through


def test_30p_stays_30_and_gopro_media_is_restyled_frame_for_frame(samples: Path) -> None:
    """A real .fcpxmld bundle: a 30p project (frameDuration 100/3000s) of 29.97 GoPro files
    (frameDuration 1001/30000s) in media-rep; the adapter made the project 29.97. Final Cut
    plays the files at 30 fps (conform-rate srcFrameRate="29.97": Automatic Speed), one
    media frame per project frame: each clip restyles as many of its file's frames as it
    lasts, from its start in the file's own time."""
    result = read_timeline(samples / "fcp113_30_gopro_transitions.fcpxmld")
    assert timeline_rate(result.timeline) == 30
    first = result.timeline.find_clips()[0]
    assert path_from_url(first.media_reference.target_url) == (
        "/Volumes/Pinnate/FCP/Final Cut Original Media/2025-04-20/GX010163.mov")
    media_rate = first.media_reference.available_range.duration.rate
    assert exact_rate(media_rate) == Fraction(30000, 1001)
    # asset start 1499755257/30000s is frame 1498257 of the file's own 29.97 timecode
    assert first.media_reference.available_range.start_time.value == 1498257
    found = select(result.timeline, Criteria(all_clips=True, generations=False)).restyles
    # start="302553251/6000s" is 1511255 frames of 1001/30000s, 12998 after the asset's
    # start; duration="34200/3000s" is 342 project frames, so 342 media frames
    assert [(r.record_start, r.record_duration, s.start_frame, s.frame_count, s.rate)
            for r, s in found] == [(0, 342, 12998, 342, "30000/1001"),
                                   (342, 309, 18841, 309, "30000/1001"),
                                   (651, 321, 18536, 321, "30000/1001")]
    assert first.metadata["kling_bridge"]["frame_for_frame"] is True
    assert first.effects[0].time_scalar == pytest.approx(1.001)  # the speed, kept for OTIO


def test_drop_frame_and_hour_start(samples: Path) -> None:
    df = read_timeline(samples / "fcp111_2997df_compound_retime.fcpxml").timeline
    assert df.metadata["kling_bridge"]["drop_frame"] is True
    hour = read_timeline(samples / "fcp111_2398_multicam_1h.fcpxml").timeline
    # tcStart 6918912000/1920000s = 3603.6 s = 86400 frames of 23.976: 01:00:00:00
    assert hour.global_start_time.value == 86400
    assert otio.opentime.to_timecode(hour.global_start_time) == "01:00:00:00"


def test_multicam_clips_show_their_active_video_angle(samples: Path) -> None:
    """First mc-clip: angle D (Cam 4, at 101101/24000s in the multicam) from multicam time
    19299280/1920000s: 10.0517 - 4.2125 = 5.839 s (140 frames) into Cam 4. Second: angle B
    (Cam 2 at 125125/24000s) from 313313/24000s: 188188/24000 s = 188 frames in."""
    timeline = read_timeline(samples / "fcp111_2398_multicam_1h.fcpxml").timeline
    found = select(timeline, Criteria(all_clips=True)).restyles
    assert [(Path(src.path).name, src.start_frame, src.frame_count) for _ref, src in found] == [
        ("Cam 4.mp4", 140, 960), ("Cam 2.mp4", 188, 240)]  # 76876800/1920000s = 960 frames


def test_sync_clip_shows_its_video(samples: Path) -> None:
    timeline = read_timeline(samples / "fcp111_25_syncclip_1h.fcpxml").timeline
    ((ref, src),) = select(timeline, Criteria(all_clips=True)).restyles
    assert Path(src.path).name == "TestVideo.m4v" and ref.name == "TestVideo - Synchronized Clip"
    assert (src.start_frame, src.frame_count) == (0, 738)  # 295200/10000s at 25


def test_disabled_titles_and_compounds_are_skipped_with_reasons(samples: Path) -> None:
    disabled = read_timeline(samples / "fcp111_24_disabled_titles.fcpxml").timeline
    chosen = select(disabled, Criteria(all_clips=True, generations=False))
    reasons = "; ".join(why for _name, why in chosen.skipped)
    assert "disabled in the timeline" in reasons  # the enabled="0" asset-clip
    assert "generator or title (Basic Title)" in reasons
    # the enabled TestVideo: 23.98 media Final Cut plays frame for frame in the 24p project
    [(ref, source)] = chosen.restyles
    assert (ref.record_duration, source.frame_count, source.rate) == (9978, 9978,
                                                                      "24000/1001")
    compound = read_timeline(samples / "fcp111_25_compound_generators_1h.fcpxml").timeline
    stacks = [i for i in compound.tracks[0] if isinstance(i, otio.schema.Stack)]
    assert [s.name for s in stacks] == ["Title Compound Clip", "Clouds Compound Clip"]


def test_resolve_bundle_clip_starts(samples: Path) -> None:
    """Resolve writes <clip start> with a <video offset="0/1s" start="0/1s">: the clip's
    start is media time. 206/45 s and 104/45 s at 90 fps are frames 412 and 208."""
    timeline = read_timeline(samples / "resolve111_90_immersive.fcpxmld").timeline
    found = select(timeline, Criteria(all_clips=True)).restyles
    assert [(r.record_start, r.record_duration, s.start_frame) for r, s in found] == [
        (0, 990, 0), (990, 928, 412), (1918, 1221, 208)]


def test_resolve_asset_clip_cuts_record_places(samples: Path) -> None:
    """Resolve's 1.9 export of one file cut 173 times: contiguous <asset-clip>s from
    offset 3600/1s (the tcStart) at 25 fps. Clip 2 is offset 90346/25s duration 56/5s,
    clip 3 offset 90626/25s duration 4/25s; the last offset 185876/25s duration 222/25s."""
    timeline = read_timeline(samples / "resolve19_25_cuts_1h.fcpxml").timeline
    found = select(timeline, Criteria(all_clips=True)).restyles
    places = [(r.record_start, r.record_duration) for r, _s in found]
    assert places[:3] == [(0, 346), (346, 280), (626, 4)]
    assert places[-1] == (95876, 222)
    assert sum(length for _start, length in places) == 96098  # the sequence's 96098/25s


def test_resolve_asset_clip_cuts_source_frames(samples: Path) -> None:
    """The asset-clip starts (0/1s, 346/25s, 626/25s ... 95876/25s) are times in
    input.mov, which starts at 0/1s (asset r1): frames 0, 346, 626 ... 95876."""
    timeline = read_timeline(samples / "resolve19_25_cuts_1h.fcpxml").timeline
    found = select(timeline, Criteria(all_clips=True)).restyles
    starts = [s.start_frame for _r, s in found]
    assert starts[:3] == [0, 346, 626] and starts[-1] == 95876


def _resolve_style(uid: str = "") -> str:
    """One clip the way Resolve writes it: its own asset, no uid, of exactly the clip's
    range -- 48 frames at 24 fps from 01:00:10:00 of the camera file."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.9">
    <resources>
        <format width="1920" name="FFVideoFormat1080p24" frameDuration="1/24s"
                height="1080" id="r0"/>
        <asset start="3610/1s" hasVideo="1" name="A001.mov" duration="2/1s" id="r1"{uid}
               format="r0">
            <media-rep kind="original-media" src="file:///media/A001.mov"/>
        </asset>
    </resources>
    <library>
        <event name="Timeline 1 (Resolve)">
            <project name="Timeline 1 (Resolve)">
                <sequence format="r0" duration="2/1s" tcStart="3600/1s" tcFormat="NDF">
                    <spine>
                        <asset-clip start="3610/1s" name="A001.mov" duration="2/1s"
                                    offset="3600/1s" format="r0" ref="r1"/>
                    </spine>
                </sequence>
            </project>
        </event>
    </library>
</fcpxml>
"""


def test_a_resolve_asset_of_the_clips_range_asks_the_file_where_it_starts() -> None:
    """The asset says 01:00:10:00 because that is where the clip starts, not the file: the
    camera file starts at 01:00:00:00 (its timecode, asked as an EDL's would be), so the
    clip shows frames 240-287 -- not frame 0 of the file, as taking the asset for the file
    gave. With Final Cut's uid on the asset, the asset is the file, as before."""
    hour = otio.opentime.RationalTime(3600 * 24, 24)
    timeline = read_timeline_text(_resolve_style(), "fcpx_xml").timeline
    (asked,) = select(timeline, Criteria(all_clips=True), media_start=lambda _path: hour,
                      ).restyles
    assert (asked[1].start_frame, asked[1].frame_count) == (240, 48)
    blind = select(timeline, Criteria(all_clips=True))  # nobody to ask: from 00:00:00:00
    assert blind.restyles[0][1].start_frame == 3610 * 24
    assert any("media start timecode unknown" in note for note in blind.notes)
    final_cut = read_timeline_text(_resolve_style(' uid="5A1B"'), "fcpx_xml").timeline
    (whole,) = select(final_cut, Criteria(all_clips=True), media_start=lambda _path: hour,
                      ).restyles
    assert whole[1].start_frame == 0  # Final Cut: the asset is the file, which it shows


def test_markers_prompts_and_keywords(samples: Path) -> None:
    timeline = read_timeline(samples / "fcp111_2398_storyline_audition.fcpxml").timeline
    first = next(c for c in timeline.find_clips())
    (marker,) = first.markers
    # start 199199/12000s = frame 398 of the clip's own time; to-do markers are red
    assert (marker.name, marker.marked_range.start_time.value) == ("Shot_01", 398)
    assert marker.color == otio.schema.MarkerColor.RED
    keywords = read_timeline(samples / "fcp111_24_with_25_media_1h.fcpxml").timeline
    clip = next(c for c in keywords.find_clips())
    assert list(clip.metadata["fcpxml"]["keywords"]) == ["keyword1", "keyword2"]
    assert clip.metadata["fcpxml"]["note"] == "asset notes in browser"


@pytest.mark.parametrize("cut", all_cuts(), ids=cut_id)
def test_generated_cuts_read_as_laid_out(cut: Cut) -> None:
    """Every clip where :data:`cuts.PLAYS` says it plays, at every rate and start."""
    timeline = read_timeline_text(cut.text, "fcpx_xml").timeline
    assert timeline_rate(timeline) == cut.rate
    assert timeline.global_start_time.value == cut.start
    selection = select(timeline, Criteria(all_clips=True))
    got = sorted((ref.name, int(ref.track_name.split()[-1]) if ref.track_name != "Primary "
                  "storyline" else 0, ref.record_start, ref.record_duration, src.start_frame)
                 for ref, src in selection.restyles)
    assert got == sorted(PLAYS)
    skipped = sorted(selection.skipped)
    assert [name for name, _why in skipped] == sorted(name for name, _part in SKIPPED)
    for (_name, why), (_n, part) in zip(skipped, sorted(SKIPPED), strict=True):
        assert part in why
    assert sorted(g.placement.record_start for g in selection.generations if g.placement) == [
        p[0] for p in PROMPTS]
    assert sorted(g.prompt for g in selection.generations) == sorted(p[1] for p in PROMPTS)


def test_roles_are_kept_on_each_clip_and_a_music_lane_is_audio() -> None:
    """Each clip keeps the roles Final Cut gave it (``metadata["fcpxml"]``, as the XML of
    cuts.py writes them: ``dialogue`` on the camera clips, ``music`` on MUSIC in lane -1),
    and a clip below the storyline with only a sound role comes in on an audio track."""
    cut = all_cuts()[0]
    timeline = read_timeline_text(cut.text, "fcpx_xml").timeline
    roles = {(track.kind, clip.name, clip.metadata["fcpxml"].get("audioRole"))
             for track in timeline.tracks for clip in track.find_clips()}
    assert ("Audio", "MUSIC", "music") in roles
    cameras = {role for _kind, name, role in roles
               if name.split()[0] in ("A001", "A002", "B001", "C001")}
    assert cameras == {"dialogue", None}  # None: the sync-clip, whose role is its parts'
    assert [name for kind, name, _ in roles if kind == "Audio"] == ["MUSIC"]
    picture = select(timeline, Criteria(all_clips=True))
    assert "MUSIC" not in {ref.name for ref, _ in picture.restyles} | dict(picture.skipped).keys()


def test_relative_media_paths_count_from_the_files_folder(tmp_path: Path) -> None:
    text = _one_clip("media/take%201.mov")
    folder = tmp_path / "project folder"
    (folder / "media").mkdir(parents=True)
    (folder / "media" / "take 1.mov").write_bytes(b"stand-in")
    (folder / "cut.fcpxml").write_text(text)
    result = read_timeline(folder / "cut.fcpxml")
    clip = result.timeline.find_clips()[0]
    assert path_from_url(clip.media_reference.target_url) == str(folder / "media" / "take 1.mov")
    assert result.issues == []  # found, wherever the command was run from
    bundle = folder / "cut.fcpxmld"
    bundle.mkdir()
    (bundle / "Info.fcpxml").write_text(_one_clip("../media/take%201.mov"))
    clip = read_timeline(bundle).timeline.find_clips()[0]
    assert path_from_url(clip.media_reference.target_url) == str(folder / "media" / "take 1.mov")
    # a timeline sent as text has no folder: the path stays relative (and is reported)
    again = read_timeline_text(text, "fcpx_xml")
    assert again.timeline.find_clips()[0].media_reference.target_url == "media/take%201.mov"


def test_proxy_only_media_is_used() -> None:
    text = _one_clip("file:///m/original.mov").replace(
        'kind="original-media" src="file:///m/original.mov"',
        'kind="proxy-media" src="file:///m/proxy.mov"')
    clip = read_timeline_text(text, "fcpx_xml").timeline.find_clips()[0]
    assert clip.media_reference.target_url == "file:///m/proxy.mov"


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.replace("</spine>", "", 1), "not well-formed XML (line"),
    (lambda t: t.replace("<fcpxml", "<xmeml").replace("</fcpxml>", "</xmeml>"),
     "not an FCPXML document"),
    (lambda t: t.replace("<project", "<proj").replace("</project>", "</proj>"),
     "holds no project"),
    (lambda t: t.replace('duration="48/24s"', 'duration="two seconds"'),
     "'two seconds' is not an FCPXML time"),
    (lambda t: t.replace(' frameDuration="1/24s"', ""), "has no frame rate"),
    (lambda t: t.replace('frameDuration="1/24s"', 'frameDuration="99999s"'),
     "has a frame rate of 1.00001e-05 fps"),
    (lambda t: "", "the file is empty"),
])
def test_bad_documents_say_what_and_where(tmp_path: Path, change: object, message: str) -> None:
    bad = tmp_path / "cut.fcpxml"
    bad.write_text(change(_one_clip("file:///m/a.mov")))  # type: ignore[operator]
    with pytest.raises(TimelineError) as caught:
        read_timeline(bad)
    assert message in str(caught.value)
    assert str(bad) in str(caught.value)


def test_a_broken_clip_is_named() -> None:
    text = _one_clip("file:///m/a.mov").replace('duration="48/24s"', 'duration="x"')
    with pytest.raises(TimelineError) as caught:
        read_timeline_text(text, "fcpx_xml", name="upload")
    assert caught.value.item == "take (asset-clip)"


def _one_clip(src: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.11">
    <resources>
        <format id="r1" name="FFVideoFormat1080p24" frameDuration="1/24s"/>
        <asset id="r2" name="take" start="0s" duration="10s" hasVideo="1" format="r1">
            <media-rep kind="original-media" src="{src}"/>
        </asset>
    </resources>
    <library>
        <event name="e">
            <project name="p">
                <sequence format="r1" tcStart="0s" duration="48/24s">
                    <spine>
                        <asset-clip ref="r2" offset="0s" name="take" start="24/24s"
                                    duration="48/24s"/>
                    </spine>
                </sequence>
            </project>
        </event>
    </library>
</fcpxml>
"""


def test_a_dropped_document_is_freed_without_the_garbage_collector(samples: Path) -> None:
    """The reader's and the splicer's element trees hold no reference cycle (an element
    knows its parent weakly; the parser lets go of its handlers), so a 5,000-clip tree is
    freed the moment it is dropped instead of costing a collection that scans it all."""
    import gc
    import weakref

    from kling_bridge.timeline.fcpxml import read_fcpxml
    from kling_bridge.timeline.fcpxml.document import parse

    text = (samples / "fcp113_2398_audition.fcpxml").read_text(encoding="utf-8")
    gc.disable()
    try:
        doc = parse(text)
        nodes = [weakref.ref(doc.root), weakref.ref(doc.nodes[-1])]
        del doc
        assert [ref() for ref in nodes] == [None, None]
        read = read_fcpxml(text)
        nodes = [weakref.ref(read.document.root), weakref.ref(read.layout.items[0].node)]
        del read
        assert [ref() for ref in nodes] == [None, None]
    finally:
        gc.enable()
