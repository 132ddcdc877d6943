"""The plugin's own code path -- the entry script Resolve runs, in another Python -- against
the fake Resolve and a real daemon (``kling-bridge serve``, draft provider): selection ->
jobs -> results on the timeline at the exact frames, at 24, 25 and 29.97 fps timelines that
start at 01:00:00:00."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from helpers import FREE, bin_paths, custom_markers, cut, empty_timeline, probe_frames, take_paths

from conftest import ROOT

WAIT = {"wait_seconds": 180}
# Kling's smallest render size: these tests read frames, rates and places, not pixels, and a
# 1080p draft costs the daemon twice the ffmpeg time of a 720p one.
SMALL = {"resolution": "720p"}
SRC = "/Volumes/Media/bridge_sample/src_24fps.mp4"
BROLL = "/Volumes/Media/bridge_sample/broll_24fps.mp4"


def only_project(editor: Any) -> dict[str, Any]:
    """The one project the editor's ledger remembers."""
    (project,) = json.loads(editor.ledger_file.read_text())["projects"].values()
    return project


def relink(node: Any, paths: dict[str, str]) -> None:
    """Point the sample's media references at the stand-in files (as a relink would)."""
    if isinstance(node, dict):
        if node.get("target_url") in paths:
            node["target_url"] = paths[node["target_url"]]
        for value in node.values():
            relink(value, paths)
    elif isinstance(node, list):
        for value in node:
            relink(value, paths)


def test_24fps_selection_api_restyles_into_takes_under_python36(editor, media) -> None:
    app, timeline, items = cut(media["24"], "24", version=(21, 0, 4, 0))
    app.select(timeline, items)  # Resolve 21.0.4+: GetSelectedClips
    editor.save(app)
    editor.settings(preset="film-noir", placement="take", **SMALL, **WAIT)

    run = editor.run("restyle", python="python3.6")

    assert run.code == 0, run.console
    assert "Selection rule: selected in the timeline -- 2 clips" in run.console
    app = editor.load()
    v1 = app.items("video", 1)
    assert [(i["start"], i["duration"]) for i in v1] == [(86400, 24), (86424, 30)]
    for item, source_frames in zip(v1, (24, 30), strict=False):
        assert item["take"] == 2 and len(item["takes"]) == 2, item
        original, result = take_paths(app, item)
        assert original.endswith("cam 24 #1.mov") and result != original
        assert probe_frames(result) == (source_frames, 24)  # frame for frame
        assert item["media"] == item["takes"][1]["media"]  # the restyled take is showing
        (custom,) = custom_markers(item)
        assert custom.startswith("kling-bridge job=j")
    assert len(bin_paths(app)) == 2
    assert [b["closed"] for b in only_project(editor)["batches"]] == [True]
    assert app.state["upsells"] == 0


def test_25fps_free_18_1_clip_colour_onto_a_track_above(editor, media) -> None:
    """Before 18.5 Resolve cannot export OTIO: the plugin writes the timeline itself."""
    app, _timeline, items = cut(media["25"], "25", product=FREE, version=(18, 1, 4, 0))
    items[1].SetClipColor("Teal")
    editor.save(app)
    editor.settings(clip_colour="Teal", **SMALL, **WAIT)

    run = editor.run("restyle-track")

    assert run.code == 0, run.console
    assert "Selection rule: clip colour Teal -- 1 clip" in run.console
    assert "cannot export OTIO: sending the clips as read from the timeline" in run.console
    app = editor.load()
    assert [(i["start"], i["duration"]) for i in app.items("video", 1)] == [(90000, 24),
                                                                             (90024, 30)]
    (new,) = app.items("video", 2)
    assert (new["start"], new["duration"], new["left"]) == (90024, 30, 0)
    assert probe_frames(app.media(new["media"])["props"]["File Path"]) == (30, 25)
    assert custom_markers(new)
    assert app.items("video", 1)[1]["takes"] == []  # the original is untouched
    assert app.state["upsells"] == 0 and "fu.UIManager" not in app.state["log"]


def test_2997_in_out_marks_left_running_then_collected(editor, media) -> None:
    app, timeline, _items = cut(media["29.97"], "29.97", version=(20, 2, 0, 0))
    start = timeline.GetStartFrame()
    assert start == 108000  # 01:00:00:00 at 29.97 non-drop
    timeline.SetMarkInOut(start + 30, start + 40)  # inside the second clip only
    editor.save(app)
    editor.settings(wait_seconds=0, **SMALL)

    first = editor.run("restyle", python="python3.13")

    assert first.code == 0, first.console
    assert "Selection rule: In/Out 01:00:01:00-01:00:01:10 -- 1 clip" in first.console
    assert "still running in the daemon" in first.console
    assert editor.load().items("video", 1)[1]["takes"] == []
    editor.settings(**WAIT)

    second = editor.run("collect", python="python3.13")

    assert second.code == 0, second.console
    app = editor.load()
    untouched, restyled = app.items("video", 1)
    assert untouched["takes"] == []
    assert (restyled["start"], restyled["duration"], restyled["take"]) == (108024, 30, 2)
    frames, rate = probe_frames(take_paths(app, restyled)[1])
    assert (frames, rate.numerator, rate.denominator) == (30, 30000, 1001)


def test_resolve_shaped_otio_sample_results_land_on_their_items(editor, daemon, tmp_path) -> None:
    """tests/samples/blender53_resolve_metadata.otio (Resolve's OTIO shape, two clips on two
    tracks overlapping in time, timeline starting at frame 1) is what "Resolve" exports; the
    plugin marks the chosen items in it by track and record frame, and each result comes
    back to the item it was cut from."""
    from kling_bridge.media.synth import make_clip

    sample_file = ROOT / "tests" / "samples" / "blender53_resolve_metadata.otio"
    sample = json.loads(sample_file.read_text())
    stand_ins = {
        "/Volumes/Media/bridge_sample/src_24fps.mp4":
            make_clip(tmp_path / "src_24fps.mp4", width=160, height=90, rate="24", frames=96),
        "/Volumes/Media/bridge_sample/broll_24fps.mp4":
            make_clip(tmp_path / "broll_24fps.mp4", width=160, height=90, rate="24", frames=48,
                      pattern="mandelbrot"),
    }
    relink(sample, {k: str(v) for k, v in stand_ins.items()})
    app, timeline = empty_timeline("24", version=(21, 0, 4, 0))
    app.timeline(timeline.GetUniqueId()).update(start=1, playhead=1, export_override=sample)
    timeline.AddTrack("video")
    pool = app.resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    source, broll = pool.ImportMedia([str(p) for p in stand_ins.values()])
    (a,) = pool.AppendToTimeline([{"mediaPoolItem": source, "startFrame": 12, "endFrame": 90,
                                   "mediaType": 1, "trackIndex": 1, "recordFrame": 13}])
    (b,) = pool.AppendToTimeline([{"mediaPoolItem": broll, "startFrame": 0, "endFrame": 48,
                                   "mediaType": 1, "trackIndex": 2, "recordFrame": 23}])
    app.select(timeline, [a, b])
    editor.save(app)
    editor.settings(**SMALL, **WAIT)

    run = editor.run("restyle")

    assert run.code == 0, run.console
    app = editor.load()
    (batch,) = only_project(editor)["batches"]
    jobs = {j["spec"]["clip"]["clip_id"]: j
            for j in daemon.client().batch(batch["batch_id"])["jobs"]}
    assert set(jobs) == {a.GetUniqueId(), b.GetUniqueId()}
    for handle, track, path, first, frames in ((a, 1, stand_ins[SRC], 12, 78),
                                               (b, 2, stand_ins[BROLL], 0, 48)):
        (item,) = app.items("video", track)
        assert item["id"] == handle.GetUniqueId() and item["take"] == 2
        job = jobs[item["id"]]
        assert (job["spec"]["source"]["path"], job["spec"]["source"]["start_frame"],
                job["spec"]["source"]["frame_count"]) == (str(path), first, frames)
        (video,) = [o for o in job["result"]["outputs"] if o["role"] == "video"]
        assert take_paths(app, item)[1] == video["path"]
        assert probe_frames(video["path"])[0] == frames


def test_broll_at_a_kling_marker_on_the_first_free_tracks(editor, media) -> None:
    app, timeline, _items = cut(media["25"], "25", version=(19, 1, 3, 7))
    start = timeline.GetStartFrame()
    assert timeline.AddMarker(10, "Blue", "Rain", "kling: rain on a tin roof, close up", 75)
    editor.save(app)
    editor.settings(resolution="720p", broll_audio=True, **WAIT)

    run = editor.run("generate")

    assert run.code == 0, run.console
    app = editor.load()
    (broll,) = app.items("video", 2)  # V1 holds the cut there: the first free track is V2
    assert (broll["start"], broll["duration"]) == (start + 10, 75)
    path = app.media(broll["media"])["props"]["File Path"]
    assert probe_frames(path) == (75, 25)  # conformed to the timeline: 3 s at 25 fps
    assert custom_markers(broll)
    (sound,) = app.items("audio", 2)  # A1 holds the cut's sound
    assert (sound["start"], sound["duration"], sound["media"]) == (start + 10, 75, broll["media"])


# ------------------------------------------------------------------ media at another rate


def test_25fps_media_on_a_24fps_timeline_restyles_into_takes_frame_for_frame(
        editor, daemon, media) -> None:
    """Resolve plays 25 fps media on a 24 fps timeline in real time; its export puts the
    source range on the timeline's grid. The plugin sends each clip's exact media frames
    (its in-point, and the frames that cover it), so each take is the shot's own frames and
    fills its item exactly."""
    app, timeline, items = cut(media["25"], "24", version=(21, 0, 4, 0))
    app.select(timeline, items)
    editor.save(app)
    editor.settings(preset="watercolor", placement="take", **SMALL, **WAIT)
    before = [(i["start"], i["duration"]) for i in editor.load().items("video", 1)]
    assert before == [(86400, 23), (86424, 28)]  # 24 and 30 media frames, rounded down

    run = editor.run("restyle")

    assert run.code == 0, run.console
    app = editor.load()
    (batch,) = only_project(editor)["batches"]
    jobs = {j["spec"]["clip"]["clip_id"]: j
            for j in daemon.client().batch(batch["batch_id"])["jobs"]}
    for item, (first, count) in zip(app.items("video", 1), ((4, 24), (10, 30)), strict=True):
        assert (item["start"], item["duration"]) in before and item["take"] == 2, item
        source = jobs[item["id"]]["spec"]["source"]
        assert (source["start_frame"], source["frame_count"], source["rate"]) == (first,
                                                                                  count, "25")
        assert probe_frames(take_paths(app, item)[1]) == (count, 25)
    assert [(i["start"], i["duration"]) for i in app.items("video", 1)] == before


def test_2997_media_on_a_23976_timeline_onto_a_track_at_the_exact_frames(
        editor, daemon, media) -> None:
    """Resolve 18.1 (no OTIO export: the plugin writes the timeline itself), 29.97 fps
    media on a 23.976 fps timeline, results on a track above."""
    app, _timeline, items = cut(media["29.97"], "23.976", product=FREE, version=(18, 1, 4, 0))
    for item in items:
        item.SetClipColor("Orange")
    editor.save(app)
    editor.settings(clip_colour="Orange", preset="watercolor", placement="track", **SMALL,
                    **WAIT)

    run = editor.run("restyle")

    assert run.code == 0, run.console
    app = editor.load()
    cut_items = app.items("video", 1)
    assert [(i["start"], i["duration"]) for i in cut_items] == [(86400, 19), (86424, 24)]
    placed = app.items("video", 2)
    assert [(i["start"], i["duration"], i["left"]) for i in placed] == [(86400, 19, 0),
                                                                        (86424, 24, 0)]
    (batch,) = only_project(editor)["batches"]
    specs = {j["spec"]["clip"]["clip_id"]: j["spec"]
             for j in daemon.client().batch(batch["batch_id"])["jobs"]}
    for item, (first, count) in zip(cut_items, ((4, 24), (10, 30)), strict=True):
        source = specs[item["id"]]["source"]
        assert (source["start_frame"], source["frame_count"]) == (first, count)
        assert Fraction(source["rate"]) == Fraction(30000, 1001)
    for item, count in zip(placed, (24, 30), strict=True):
        frames, rate = probe_frames(app.media(item["media"])["props"]["File Path"])
        assert (frames, rate) == (count, Fraction(30000, 1001))
