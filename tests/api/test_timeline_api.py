"""Timelines through the API: a plugin's marked OTIO in, result timelines out in each format."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

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


def plugin_timeline(media: list[Path], marked: bool = True) -> dict:
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
    assert "kling_bridge.film-noir" in original.media_references()
    assert original.active_media_reference_key == otio.schema.Clip.DEFAULT_MEDIA_KEY
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
