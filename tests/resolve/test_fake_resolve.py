"""The fake Resolve keeps the documented API and the quirks measured on real Resolve (a fake
that is kinder than Resolve would let the plugin's mistakes through)."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest
from fake_resolve import FakeResolveApp
from helpers import FREE, STUDIO, cut, empty_timeline

from kling_bridge.timeline import Criteria, read_timeline_text, select


def test_hasattr_is_always_true_and_dir_tells_the_truth(media: dict[str, Path]) -> None:
    app, timeline, items = cut(media["24"], "24", version=(21, 0, 3, 0))
    for obj in (app.resolve, timeline, items[0]):
        assert hasattr(obj, "NoSuchMethod") and obj.NoSuchMethod() is None
    assert "GetItemListInTrack" in dir(timeline) and "NoSuchMethod" not in dir(timeline)
    assert "GetSelectedClips" not in dir(timeline)  # 21.0.4+
    assert timeline.GetSelectedClips() is None  # a fabricated callable: None, no error
    app.state["version"] = [21, 0, 4, 0, ""]
    assert "GetSelectedClips" in dir(timeline) and timeline.GetSelectedClips() == []


def test_export_otio_needs_18_5_and_the_live_constant(media: dict[str, Path],
                                                      tmp_path: Path) -> None:
    app, timeline, _ = cut(media["24"], "24", version=(18, 1, 0, 0))
    assert "EXPORT_OTIO" not in dir(app.resolve)
    assert not timeline.Export(str(tmp_path / "a.otio"), app.resolve.EXPORT_OTIO)
    app.state["version"] = [18, 5, 0, 0, ""]
    assert not timeline.Export(str(tmp_path / "b.otio"), "EXPORT_OTIO")  # a string: nothing
    assert not (tmp_path / "b.otio").exists()
    assert timeline.Export(str(tmp_path / "c.otio"), app.resolve.EXPORT_OTIO,
                           app.resolve.EXPORT_NONE)


def test_resolve_shaped_export_reads_in_otio_and_selects_the_right_frames(
        media: dict[str, Path], tmp_path: Path) -> None:
    """The export is Resolve's shape and the daemon's reader gets the source frames right
    (media timecode 10:00:00:00 included in source_range, subtracted via available_range)."""
    app, timeline, _items = cut(media["24"], "24")
    path = tmp_path / "cut.otio"
    assert timeline.Export(str(path), app.resolve.EXPORT_OTIO)
    doc = json.loads(path.read_text())
    assert doc["global_start_time"] == {"OTIO_SCHEMA": "RationalTime.1", "rate": 24.0,
                                        "value": 86400.0}
    names = [t["name"] for t in doc["tracks"]["children"]]
    assert names == ["Video 1", "Audio 1"]
    clip = doc["tracks"]["children"][0]["children"][0]
    assert clip["OTIO_SCHEMA"] == "Clip.2"
    ref = clip["media_references"]["DEFAULT_MEDIA"]
    assert ref["target_url"] == str(media["24"])  # a bare path, '#' and all
    assert ref["available_range"]["start_time"]["value"] == 864000.0  # 10:00:00:00
    assert clip["source_range"]["start_time"]["value"] == 864004.0
    assert all(e["effect_name"] == "Resolve Effect" for e in clip["effects"])
    timeline_read = otio.adapters.read_from_file(str(path))
    assert timeline_read.video_tracks()[0][1].range_in_parent().start_time.value == 24
    chosen = select(read_timeline_text(path.read_text(), "otio_json").timeline,
                    Criteria(all_clips=True))
    assert [(s.start_frame, s.frame_count) for _, s in chosen.restyles] == [(4, 24), (10, 30)]


def test_append_end_frame_is_exclusive_and_overlaps_are_dropped_silently(
        media: dict[str, Path]) -> None:
    app, timeline, items = cut(media["24"], "24")
    assert (items[0].GetStart(), items[0].GetEnd(), items[0].GetDuration()) == (86400, 86424, 24)
    pool = app.resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    media_item = items[0].GetMediaPoolItem()
    ghost = pool.AppendToTimeline([{"mediaPoolItem": media_item, "startFrame": 0,
                                    "endFrame": 10, "mediaType": 1, "trackIndex": 1,
                                    "recordFrame": 86410}])
    assert len(ghost) == 1 and ghost[0].GetUniqueId() == ""  # looks placed; is not
    assert len(timeline.GetItemListInTrack("video", 1)) == 2
    assert timeline.GetItemListInTrack("video", 2) is None  # no such track
    timeline.AddTrack("video")
    assert timeline.GetItemListInTrack("video", 2) == []


def test_reimport_answers_an_empty_list(media: dict[str, Path]) -> None:
    app, _timeline, _items = cut(media["24"], "24")
    pool = app.resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    assert pool.ImportMedia([str(media["24"])]) == []
    assert pool.ImportMedia(["/nowhere/clip.mov"]) == []


@pytest.mark.parametrize(("rate", "shown", "start"), [("23.976", "23.976", 86400),
                                                      ("29.97", "29.97", 108000),
                                                      ("29.97 DF", "29.97 DF", 107892),
                                                      ("25", "25", 90000)])
def test_timeline_rate_is_rounded_text(rate: str, shown: str, start: int) -> None:
    _app, timeline = empty_timeline(rate)
    assert timeline.GetSetting("timelineFrameRate") == shown
    assert timeline.GetStartFrame() == start
    assert timeline.GetCurrentTimecode() in ("01:00:00:00", "01:00:00;00")


def test_free_19_1_has_no_ui_manager_and_its_upsell_blocks_later_calls(
        media: dict[str, Path]) -> None:
    app, timeline, _items = cut(media["24"], "24", product=FREE, version=(19, 1, 3, 7))
    assert app.fusion.UIManager is None
    assert app.state["upsells"] == 1
    assert timeline.GetName() is None  # the modal is up: everything answers None
    studio, _t, _i = cut(media["24"], "24", product=STUDIO, version=(20, 0, 0, 0))
    assert studio.fusion.UIManager is not None
    free_19_0, _t, _i = cut(media["24"], "24", product=FREE, version=(19, 0, 3, 0))
    assert free_19_0.fusion.UIManager is not None


def test_clip_colours_and_the_source_frame_off_by_one(media: dict[str, Path]) -> None:
    app, _timeline, items = cut(media["24"], "24")
    assert items[0].SetClipColor("Teal") and not items[0].SetClipColor("Red")  # marker-only
    assert items[0].GetClipColor() == "Teal"
    pool = app.resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    (odd,) = pool.AppendToTimeline([{"mediaPoolItem": items[0].GetMediaPoolItem(),
                                     "startFrame": 7, "endFrame": 17, "trackIndex": 1,
                                     "mediaType": 1, "recordFrame": 87000}])
    assert odd.GetLeftOffset() == 7 and odd.GetSourceStartFrame() == 6


def test_session_survives_save_and_load(media: dict[str, Path], tmp_path: Path) -> None:
    app, timeline, items = cut(media["24"], "24")
    items[1].AddMarker(0, "Purple", "n", "note", 1, "kling-bridge job=j1")
    app.save(str(tmp_path / "s.json"))
    again = FakeResolveApp.load(str(tmp_path / "s.json"))
    tl = again.resolve.GetProjectManager().GetCurrentProject().GetCurrentTimeline()
    (_a, b) = tl.GetItemListInTrack("video", 1)
    assert b.GetMarkerByCustomData("kling-bridge job=j1")["name"] == "n"
    assert tl.GetUniqueId() == timeline.GetUniqueId()
