"""The chain actions (both models together) through their entry scripts, the fake Resolve
and a real daemon (draft provider): compare looks then apply the one shown to the rest,
more like this and next shot placed right after their clips, generate then restyle placing
only the restyled clip."""

from __future__ import annotations

import json
import struct
from typing import Any

from helpers import bin_paths, custom_markers, cut, probe_frames, take_paths

WAIT = {"wait_seconds": 240}


def project(editor: Any) -> dict[str, Any]:
    (found,) = json.loads(editor.ledger_file.read_text())["projects"].values()
    return found


def png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_compare_looks_then_apply_the_look_shown_to_the_rest(editor, daemon, media) -> None:
    """One clip in three looks: three takes and the comparison picture in the bin, its
    columns said in order. The editor shows the second look (take 3) and runs Apply look on
    both clips: the other clip gets that look as a take; the compared clip is left as is."""
    app, timeline, items = cut(media["25"], "25", version=(21, 0, 4, 0))
    app.select(timeline, items[:1])
    editor.save(app)
    editor.settings(compare_looks="film-noir, anime-cel, watercolor", resolution="720p", **WAIT)

    compared = editor.run("compare")

    assert compared.code == 0, compared.console
    assert "Looks to compare: film-noir, anime-cel, watercolor" in compared.console
    app = editor.load()
    first, second = app.items("video", 1)
    assert len(first["takes"]) == 4 and first["take"] == 4, first
    assert len(set(take_paths(app, first))) == 4
    assert len(custom_markers(first)) == 3  # one per take, each on its own frame
    assert second["takes"] == []
    comparison = project(editor)["comparison"]
    assert [c["look"] for c in comparison["columns"]] == ["film-noir", "anime-cel",
                                                          "watercolor"]
    for column in comparison["columns"]:
        assert f"column {column['index']}: {column['look']} (job {column['job_id']})" \
            in compared.console
    assert comparison["path"] in bin_paths(app)
    width, height = png_size(comparison["path"])
    assert width > height  # four columns (the source and three looks) side by side
    jobs = {j["id"]: j for j in daemon.client().batch(comparison["batch"])["jobs"]}
    anime = comparison["columns"][1]["job_id"]
    anime_path = jobs[anime]["result"]["outputs"][0]["path"]
    assert take_paths(app, first)[2] == anime_path  # take 3 is the second look

    # the editor flips the compared clip to the look it likes, selects both clips
    resolve_timeline = app.resolve.GetProjectManager().GetCurrentProject().GetCurrentTimeline()
    handles = resolve_timeline.GetItemListInTrack("video", 1)
    assert handles[0].SelectTakeByIndex(3)
    app.select(resolve_timeline, handles)
    editor.save(app)

    applied = editor.run("apply-look")

    assert applied.code == 0, applied.console
    assert f"the look shown on 'cam 25 #1.mov' on V1: job {anime}" in applied.console
    assert "left out 'cam 25 #1.mov' on V1: it shows a Kling result already" in applied.console
    app = editor.load()
    first, second = app.items("video", 1)
    assert first["take"] == 3 and len(first["takes"]) == 4  # untouched
    assert len(second["takes"]) == 2 and second["take"] == 2
    batch_id = project(editor)["batches"][-1]["batch_id"]
    (job,) = daemon.client().batch(batch_id)["jobs"]
    assert job["spec"]["look"]["preset"] == "anime-cel"
    assert job["spec"]["source"]["start_frame"] == 10  # the second clip's frames
    assert take_paths(app, second)[1] == job["result"]["outputs"][0]["path"]
    assert probe_frames(take_paths(app, second)[1])[0] == 30


def test_more_like_this_follows_the_restyled_take_and_next_shot_a_plain_clip(
        editor, daemon, media) -> None:
    """More like this on a clip showing its restyled take follows that job (its result as
    the reference, its look's words) and lands right after the clip; a next shot of a clip
    never restyled sends the clip's own frames. Both silent, at the timeline's rate."""
    app, timeline, items = cut(media["24"], "24", version=(21, 0, 4, 0))
    start = timeline.GetStartFrame()
    app.select(timeline, items[1:])
    editor.save(app)
    editor.settings(preset="film-noir", broll_prompt="rooftops at dusk", broll_seconds=3,
                    resolution="720p", **WAIT)
    assert editor.run("restyle").code == 0
    restyled = project(editor)["batches"][0]
    (restyle_job,) = restyled["outcomes"]

    more = editor.run("more-like-this")

    assert more.code == 0, more.console
    assert f"(following job {restyle_job})" in more.console
    app = editor.load()
    v1 = app.items("video", 1)
    assert [(i["start"], i["duration"]) for i in v1[:2]] == [(start, 24), (start + 24, 30)]
    broll = v1[2]  # nothing after the second clip: right after it on V1
    assert (broll["start"], broll["duration"], broll["left"]) == (start + 54, 72, 0)
    assert probe_frames(app.media(broll["media"])["props"]["File Path"]) == (72, 24)
    assert custom_markers(broll)
    assert len(app.timeline(timeline.GetUniqueId())["audio"]) == 1  # silent: no sound added
    entry = project(editor)["batches"][1]
    jobs = daemon.client().batch(entry["batch_id"])["jobs"]
    (follower,) = [j for j in jobs if j["kind"] == "generate"]
    assert follower["spec"]["feature_mode"] == "style"
    restyled_path = daemon.client().job(restyle_job)["result"]["outputs"][0]["path"]
    assert follower["spec"]["feature_video"] == restyled_path
    assert "rooftops at dusk" in follower["spec"]["prompt"]

    # the next shot of the first clip, never restyled: its own frames (4-27) go
    app.select(app.resolve.GetProjectManager().GetCurrentProject().GetCurrentTimeline(),
               app.resolve.GetProjectManager().GetCurrentProject().GetCurrentTimeline()
               .GetItemListInTrack("video", 1)[:1])
    editor.save(app)
    editor.settings(broll_prompt="she turns and walks away")

    nxt = editor.run("next-shot")

    assert nxt.code == 0, nxt.console
    app = editor.load()
    (shot,) = app.items("video", 2)  # V1 holds the second clip there
    assert (shot["start"], shot["duration"]) == (start + 24, 72)
    entry = project(editor)["batches"][2]
    (job,) = daemon.client().batch(entry["batch_id"])["jobs"]
    assert job["spec"]["feature_mode"] == "next_shot"
    assert job["spec"]["feature_video"] == str(media["24"])
    assert (job["spec"]["feature_start"], job["spec"]["feature_frames"]) == (4, 24)


def test_generate_then_restyle_places_only_the_restyled_clip(editor, daemon, media) -> None:
    """At the playhead (29.97 fps): the chain's generated clip feeds its restyle and only
    the restyle lands, at the playhead on the first free track, to the frame."""
    app, timeline, _items = cut(media["29.97"], "29.97", version=(21, 0, 4, 0))
    start = timeline.GetStartFrame()
    timeline.SetCurrentTimecode("01:00:00:20")
    editor.save(app)
    editor.settings(preset="film-noir", broll_prompt="a harbour at dawn", broll_seconds=3,
                    broll_audio=False, resolution="720p", **WAIT)

    run = editor.run("generate-restyle")

    assert run.code == 0, run.console
    assert "then restyled in film-noir; only the restyled clip is placed" in run.console
    app = editor.load()
    (placed,) = app.items("video", 2)
    assert (placed["start"], placed["duration"]) == (start + 20, 90)
    (entry,) = project(editor)["batches"]
    assert entry["closed"] and sorted(entry["outcomes"].values()) == ["applied",
                                                                      "fed the next link"]
    batch = daemon.client().batch(entry["batch_id"])
    (chain,) = batch["chains"]
    generated, restyled = chain["links"]
    assert (generated["kind"], restyled["kind"]) == ("generate", "restyle")
    path = app.media(placed["media"])["props"]["File Path"]
    assert path == restyled["video"] != generated["video"]
    assert [i["start"] for i in app.items("video", 1)] == [start, start + 24]
