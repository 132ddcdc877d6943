"""Timelines through the API: a plugin's marked OTIO in, result timelines out in each format."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from kling_bridge.media.synth import make_clip

from .conftest import Api

pytestmark = pytest.mark.asyncio
RATE = 25


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("tl-media")
    return [make_clip(d / f"shot {n} #{n}.mov", frames=75, rate="25") for n in (1, 2)]


def plugin_timeline(media: list[Path], marked: bool = True) -> dict[str, Any]:
    tl = otio.schema.Timeline(name="cut")
    tl.global_start_time = otio.opentime.from_timecode("01:00:00:00", RATE)
    track = otio.schema.Track(name="Video 1")
    for n, path in enumerate(media, start=1):
        ref = otio.schema.ExternalReference(
            target_url=path.as_uri(),
            available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, RATE),
                                                    otio.opentime.RationalTime(75, RATE)))
        clip = otio.schema.Clip(name=f"shot {n}", media_reference=ref,
                                source_range=otio.opentime.TimeRange(
                                    otio.opentime.RationalTime(10, RATE),
                                    otio.opentime.RationalTime(50, RATE)))
        if n == 2 and marked:
            clip.metadata["kling_bridge"] = {"selected": True, "clip_id": "resolve-0042"}
        track.append(clip)
    tl.tracks.append(track)
    return json.loads(otio.adapters.write_to_string(tl, "otio_json"))


async def finish(api: Api, job_ids: list[str]) -> None:
    for _ in range(1000):
        states = [(await (await api.get(f"/v1/jobs/{j}")).json())["state"] for j in job_ids]
        if all(s == "succeeded" for s in states):
            return
        assert "failed" not in states
        await asyncio.sleep(0.02)
    raise AssertionError(states)


async def test_marked_clip_becomes_a_job_and_lands_over_its_source(api: Api,
                                                                   media: list[Path]) -> None:
    r = await api.post("/v1/restyle", {"timeline": plugin_timeline(media),
                                       "look": {"preset": "film-noir"},
                                       "select": {"mode": "marked", "handles": 5}})
    assert r.status == 201, await r.text()
    answer = await r.json()
    (job,) = answer["jobs"]
    clip, source = job["spec"]["clip"], job["spec"]["source"]
    assert clip["clip_id"] == "resolve-0042" and clip["record_start"] == 50
    assert (source["start_frame"], source["frame_count"]) == (10, 50)
    assert (source["handle_before"], source["handle_after"]) == (5, 5)
    assert source["path"] == str(media[1])
    await finish(api, [job["id"]])
    r = await api.get(f"/v1/batches/{answer['batch_id']}/timeline?format=otio")
    assert r.status == 200 and r.content_type == "application/json"
    result = otio.adapters.read_from_string(await r.text(), "otio_json")
    look = next(t for t in result.video_tracks() if t.name == "film-noir")
    (new,) = list(look.find_clips())
    original = result.video_tracks()[0][1]
    assert new.range_in_parent() == original.range_in_parent()
    assert new.metadata["kling_bridge"]["job_id"] == job["id"]
    # the plugin's document, spliced: its own tracks exactly as sent, one track added
    sent = plugin_timeline(media)
    back = json.loads(await r.text())
    assert back["tracks"]["children"][:1] == sent["tracks"]["children"]
    assert [t["name"] for t in back["tracks"]["children"][1:]] == ["film-noir"]
    assert set(original.media_references()) == {otio.schema.Clip.DEFAULT_MEDIA_KEY}
    assert new.metadata["kling_bridge"]["note"].startswith("Kling O3 · film-noir · job ")
    for fmt, marker in (("fcp_xml", "<xmeml"), ("fcpx_xml", "<fcpxml"), ("cmx_3600", "TITLE")):
        r = await api.get(f"/v1/batches/{answer['batch_id']}/timeline?format={fmt}")
        assert r.status == 200, (fmt, await r.text())
        assert marker in await r.text()
    r = await api.get(f"/v1/batches/{answer['batch_id']}/timeline?format=mp4")
    assert r.status == 400 and (await r.json())["error"]["code"] == "bad_format"


async def test_timeline_refusals_name_file_and_item(api: Api, media: list[Path]) -> None:
    r = await api.post("/v1/restyle", {"timeline": plugin_timeline(media, marked=False),
                                       "look": {"preset": "anime"}})
    err = (await r.json())["error"]
    assert r.status == 400 and err["code"] == "bad_timeline"
    # 'marked' is the default: say so, and how to choose clips in a file from another editor
    assert "no clip is marked" in err["message"] and "'marked'" in err["message"]
    assert "--select all" in err["hint"] and "color:" in err["hint"]
    broken = plugin_timeline(media)
    broken["tracks"]["children"][0]["children"][0]["OTIO_SCHEMA"] = "HoloClip.1"
    r = await api.post("/v1/restyle", {"timeline": broken, "look": {"preset": "anime"}})
    err = (await r.json())["error"]
    assert r.status == 400 and "HoloClip" in err["message"]
    r = await api.post("/v1/restyle", {"timeline_path": "/nope/cut.fcpxml",
                                       "look": {"preset": "anime"}})
    err = (await r.json())["error"]
    assert r.status == 400 and "/nope/cut.fcpxml" in err["message"]


async def test_timeline_file_with_selection_by_track(api: Api, media: list[Path],
                                                     tmp_path: Path) -> None:
    path = tmp_path / "edit.otio"
    path.write_text(json.dumps(plugin_timeline(media, marked=False)))
    r = await api.post("/v1/restyle", {"timeline_path": str(path), "looks": [
        {"preset": "film-noir"}, {"preset": "anime"}], "variants": 2,
        "select": {"mode": "all"}})
    assert r.status == 201, await r.text()
    jobs = (await r.json())["jobs"]
    assert len(jobs) == 2 * 2 * 2  # clips x looks x variants
    assert {j["label"] for j in jobs} >= {"shot 1 · film-noir v1", "shot 2 · anime v2"}
    assert path.read_text() == json.dumps(plugin_timeline(media, marked=False))  # untouched


async def test_export_copies_outputs_and_links_the_result_timeline_to_them(
        api: Api, media: list[Path], tmp_path: Path) -> None:
    """POST /v1/batches/{id}/export: the outputs copied into the editor's folder, the
    result timeline (the editor's file, spliced) beside them pointing at the copies; a
    second export never overwrites the first."""
    path = tmp_path / "edit.otio"
    path.write_text(json.dumps(plugin_timeline(media)))
    r = await api.post("/v1/restyle", {"timeline_path": str(path),
                                       "look": {"preset": "film-noir"},
                                       "select": {"mode": "marked"}})
    answer = await r.json()
    await finish(api, [j["id"] for j in answer["jobs"]])
    out = tmp_path / "results folder"
    r = await api.post(f"/v1/batches/{answer['batch_id']}/export", {"folder": str(out)})
    assert r.status == 200, await r.text()
    done = await r.json()
    video = next(f for f in done["files"] if f["role"] == "video")
    assert Path(video["path"]).parent == out and Path(video["path"]).is_file()
    assert Path(video["source"]).read_bytes() == Path(video["path"]).read_bytes()
    (written,) = done["timelines"]
    assert written["path"] == str(out / "edit.kling.otio") and written["format"] == "otio_json"
    text = Path(written["path"]).read_text()
    assert text.startswith(path.read_text()[:200])  # the editor's document, spliced
    result = otio.adapters.read_from_string(text, "otio_json")
    (new,) = [c for t in result.video_tracks() if t.name == "film-noir" for c in t.find_clips()]
    assert new.media_reference.target_url == Path(video["path"]).as_uri()

    again = await (await api.post(f"/v1/batches/{answer['batch_id']}/export",
                                  {"folder": str(out), "format": "cmx_3600"})).json()
    assert again["timelines"][0]["path"] == str(out / "edit.kling.edl")
    copies = sorted(p.name for p in out.iterdir())
    assert Path(video["path"]).name in copies
    assert any(" (2)" in name for name in copies)  # the second copy got a new name
    assert Path(written["path"]).read_text() == text  # the first export is untouched
    r = await api.post(f"/v1/batches/{answer['batch_id']}/export", {"folder": "relative/x"})
    assert r.status == 400 and "absolute" in (await r.json())["error"]["message"]


async def test_an_edl_batch_answers_one_new_track_per_request(api: Api, media: list[Path],
                                                              tmp_path: Path) -> None:
    """An EDL carries one picture track: GET .../timeline?format=cmx_3600 answers the first
    new track's EDL, &track= picks another, an unknown one is refused by name."""
    edl = tmp_path / "reel.edl"
    edl.write_text("TITLE: reel\nFCM: NON-DROP FRAME\n\n" + "".join(
        f"00{n}  AX       V     C        00:00:00:10 00:00:02:10 01:00:0{2 * n}:00 "
        f"01:00:0{2 * n + 2}:00\n* FROM CLIP NAME:  shot {n}\n* FROM CLIP: {path}\n"
        for n, path in enumerate(media, start=1)))
    r = await api.post("/v1/restyle", {"timeline_path": str(edl), "looks": [
        {"preset": "film-noir"}, {"preset": "anime"}], "select": {"mode": "all"}})
    assert r.status == 201, await r.text()
    answer = await r.json()
    await finish(api, [j["id"] for j in answer["jobs"]])
    base = f"/v1/batches/{answer['batch_id']}/timeline?format=cmx_3600"
    first = await (await api.get(base)).text()
    assert first.startswith("TITLE: reel - film-noir\n")
    anime = await (await api.get(base + "&track=anime")).text()
    assert anime.startswith("TITLE: reel - anime\n") and anime.count("* FROM CLIP:") == 2
    r = await api.get(base + "&track=sepia")
    error = (await r.json())["error"]
    assert r.status == 400 and "'film-noir'" in error["hint"] and "'anime'" in error["hint"]
