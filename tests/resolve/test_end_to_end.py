"""The plugin's own code path -- the entry script Resolve runs, in another Python -- against
the fake Resolve and a real daemon (``kling-bridge serve``, draft provider): selection ->
jobs -> results on the timeline at the exact frames, at 24, 25 and 29.97 fps timelines that
start at 01:00:00:00."""

from __future__ import annotations

import json

from helpers import FREE, STUDIO, bin_paths, custom_markers, cut, probe_frames, take_paths

WAIT = {"wait_seconds": 180}


def test_24fps_selection_api_restyles_into_takes_under_python36(editor, media) -> None:
    app, timeline, items = cut(media["24"], "24", version=(21, 0, 4, 0))
    app.select(timeline, items)  # Resolve 21.0.4+: GetSelectedClips
    editor.save(app)
    editor.settings(preset="film-noir", placement="take", **WAIT)

    run = editor.run("restyle", python="python3.6")

    assert run.code == 0, run.console
    assert "Selection rule: selected in the timeline -- 2 clips" in run.console
    app = editor.load()
    v1 = app.items("video", 1)
    assert [(i["start"], i["duration"]) for i in v1] == [(86400, 24), (86424, 30)]
    for item, source_frames in zip(v1, (24, 30)):
        assert item["take"] == 2 and len(item["takes"]) == 2, item
        original, result = take_paths(app, item)
        assert original.endswith("cam 24 #1.mov") and result != original
        assert probe_frames(result) == (source_frames, 24)  # frame for frame
        assert item["media"] == item["takes"][1]["media"]  # the restyled take is showing
        (custom,) = custom_markers(item)
        assert custom.startswith("kling-bridge job=j")
    assert len(bin_paths(app)) == 2
    ledger = json.loads(editor.ledger_file.read_text())
    (project,) = ledger["projects"].values()
    assert [b["closed"] for b in project["batches"]] == [True]
    assert app.state["upsells"] == 0


def test_25fps_free_19_clip_colour_onto_a_track_above(editor, media) -> None:
    app, timeline, items = cut(media["25"], "25", product=FREE, version=(19, 1, 3, 7))
    items[1].SetClipColor("Teal")
    editor.save(app)
    editor.settings(clip_colour="Teal", **WAIT)

    run = editor.run("restyle-track")

    assert run.code == 0, run.console
    assert "Selection rule: clip colour Teal -- 1 clip" in run.console
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
    app, timeline, items = cut(media["29.97"], "29.97", version=(20, 2, 0, 0))
    start = timeline.GetStartFrame()
    assert start == 108000  # 01:00:00:00 at 29.97 non-drop
    timeline.SetMarkInOut(start + 30, start + 40)  # inside the second clip only
    editor.save(app)
    editor.settings(wait_seconds=0)

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
