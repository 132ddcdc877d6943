"""Every chain run for real on the offline draft provider: real ffmpeg renders, the real
media pipeline (fit, conform), the daemon's app -- checked on the files and the result
timelines they produce."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from kling_bridge.media.probe import probe
from kling_bridge.media.synth import make_still
from tests.api.conftest import Api
from tests.chains.conftest import video_of, wait_batch

pytestmark = pytest.mark.asyncio


def colourfulness(path: Path, frame: int = 12) -> int:
    """Largest spread between a pixel's channels in a 16x9 thumbnail of the middle of
    ``frame`` (clear of the DRAFT mark and band): a black-and-white picture has none."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf",
         f"select=eq(n\\,{frame}),crop=iw*0.6:ih*0.5:iw*0.2:ih*0.3,scale=16:9,format=rgb24",
         "-frames:v", "1", "-f",
         "rawvideo", "-"], capture_output=True, check=True).stdout
    return max(max(raw[i:i + 3]) - min(raw[i:i + 3]) for i in range(0, len(raw), 3))


def frames_of(path: Path) -> tuple[int, str]:
    v = probe(path).video
    assert v is not None
    return v.frame_count, f"{v.rate.numerator}/{v.rate.denominator}"


async def post(api: Api, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    r = await api.post(path, body)
    assert r.status == status, await r.text()
    answer: dict[str, Any] = await r.json()
    return answer


async def new_clips(api: Api, batch_id: str) -> dict[str, tuple[int, int, dict[str, Any]]]:
    """The clips the batch's result timeline adds: job id -> (record start, length, record)."""
    r = await api.get(f"/v1/batches/{batch_id}/timeline", params={"format": "otio"})
    assert r.status == 200, await r.text()
    timeline = otio.adapters.read_from_string(await r.text(), "otio_json")
    out = {}
    for clip in timeline.find_clips():
        meta = dict(clip.metadata.get("kling_bridge") or {})
        if meta.get("job_id"):
            where = clip.range_in_parent()
            out[meta["job_id"]] = (round(where.start_time.value), round(where.duration.value),
                                   meta)
    return out


async def test_generate_then_film_noir_places_only_the_final_clip(draft_api: Api) -> None:
    answer = await post(draft_api, "/v1/generate", {
        "prompt": "a harbour at dawn", "duration": 3, "resolution": "720p",
        "then": [{"preset": "film-noir"}],
        "placement": {"record_start": 48, "timeline_rate": "24", "name": "harbour"}})
    final = await wait_batch(draft_api, answer["batch_id"])
    assert final["state"] == "succeeded", json.dumps(final["chains"], indent=1)
    gen, restyle = final["jobs"]
    generated, restyled = video_of(gen), video_of(restyle)
    assert frames_of(restyled) == frames_of(generated) == (72, "24/1")
    # 720p asked, rendered at the test provider's short side (its knob; users get 720)
    small = probe(generated).video
    assert small is not None and (small.width, small.height) == (320, 180)
    assert colourfulness(generated) > 60 and colourfulness(restyled) < 12
    assert "draft" in restyled.name
    placed = await new_clips(draft_api, answer["batch_id"])
    assert list(placed) == [restyle["id"]]  # only the restyled clip
    start, length, meta = placed[restyle["id"]]
    assert (start, length, meta["preset"]) == (48, 72, "film-noir")


async def test_restyle_then_b_roll_in_its_look_after_the_clip(draft_api: Api,
                                                              editors_clips: list[Path]) -> None:
    answer = await post(draft_api, "/v1/restyle", {
        "clips": [{"path": str(editors_clips[0])}], "look": {"preset": "film-noir"},
        "resolution": "720p", "more_like_this": {"prompt": "rooftops", "duration": 3}})
    assert answer["estimate"]["units"] == 0 and answer["draft"]
    final = await wait_batch(draft_api, answer["batch_id"])
    assert final["state"] == "succeeded", json.dumps(final["chains"], indent=1)
    restyle, broll = final["jobs"]
    assert broll["spec"]["feature_video"] == str(video_of(restyle))
    # the look in words for new footage, then the editor's words
    assert broll["spec"]["prompt"] == ("Film noir: high-contrast black and white, hard key "
                                       "light, deep venetian-blind shadows, smoky atmosphere, "
                                       "silver film grain. rooftops")
    b = video_of(broll)
    # conformed to the clip's rate and cut to the 3 s asked, in the clip's look (grey)
    assert frames_of(b) == (75, "25/1") and colourfulness(b) < 12
    placed = await new_clips(draft_api, answer["batch_id"])
    assert placed[restyle["id"]][:2] == (0, 80)
    assert placed[broll["id"]][:2] == (80, 75)  # right after it


def cut_with_a_gap_and_a_marker(clips: list[Path], folder: Path) -> Path:
    rate = 25
    track = otio.schema.Track(name="V1")
    for n, path in enumerate(clips):
        ref = otio.schema.ExternalReference(
            target_url=path.as_uri(), available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(80, rate)))
        clip = otio.schema.Clip(name=path.stem, media_reference=ref, source_range=(
            otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                    otio.opentime.RationalTime(80, rate))))
        track.append(clip)
        if n == 0:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                duration=otio.opentime.RationalTime(90, rate))))
    track.markers.append(otio.schema.Marker(
        name="kling: rain on the window", marked_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(200, rate), otio.opentime.RationalTime(0, rate))))
    timeline = otio.schema.Timeline(name="cut")
    timeline.tracks.append(track)
    timeline.global_start_time = otio.opentime.RationalTime(0, rate)
    path = folder / "cut.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


async def test_b_roll_in_the_gap_and_at_the_markers(draft_api: Api, editors_clips: list[Path],
                                                    tmp_path: Path) -> None:
    cut = cut_with_a_gap_and_a_marker(editors_clips, tmp_path)
    gap = await post(draft_api, "/v1/restyle", {
        "timeline_path": str(cut), "select": {"mode": "all"}, "look": {"preset": "film-noir"},
        "resolution": "720p",
        "more_like_this": {"prompt": "the street", "place": "gap", "send_as": "frame"},
        "dry_run": True}, 200)
    links = [(j["kind"], j["spec"].get("placement")) for j in gap["jobs"]]
    # clip 1's B-roll fills the 90-frame gap after it; clip 2 has none (a note says so);
    # the marker's B-roll stays a plain generation
    assert links[1][0] == "generate" and links[1][1]["record_start"] == 80
    assert links[1][1]["record_duration"] == 90
    assert any("no gap after it" in n for n in gap["notes"])
    answer = await post(draft_api, "/v1/restyle", {
        "timeline_path": str(cut), "select": {"mode": "all"}, "look": {"preset": "film-noir"},
        "resolution": "720p", "more_like_this": {"place": "markers"}})
    final = await wait_batch(draft_api, answer["batch_id"])
    assert final["state"] == "succeeded", json.dumps(final["chains"], indent=1)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for job in final["jobs"]:
        by_kind.setdefault(job["kind"], []).append(job)
    (marker_broll,) = by_kind["generate"]
    # fed by the restyle of the clip before the marker (A002 starts at 170, the marker is
    # at 200), in its look, and placed at the marker
    a002 = next(j for j in by_kind["restyle"] if j["spec"]["clip"]["name"] == "A002")
    assert marker_broll["spec"]["feature_video"] == str(video_of(a002))
    assert marker_broll["spec"]["prompt"].endswith("rain on the window")
    placed = await new_clips(draft_api, answer["batch_id"])
    assert placed[marker_broll["id"]][0] == 200
    assert colourfulness(video_of(marker_broll)) < 12


async def test_next_shot_continues_a_finished_clip(draft_api: Api,
                                                   editors_clips: list[Path]) -> None:
    restyled = await post(draft_api, "/v1/restyle", {
        "clips": [{"path": str(editors_clips[1])}], "look": {"preset": "anime-cel"},
        "resolution": "720p"})
    await wait_batch(draft_api, restyled["batch_id"])
    job_id = restyled["jobs"][0]["id"]
    nxt = await post(draft_api, "/v1/generate", {
        "prompt": "she walks on", "duration": 3, "resolution": "720p",
        "reference": {"job_id": job_id, "mode": "next_shot"}})
    assert nxt["chains"][0]["kind"] == "next_shot" and len(nxt["jobs"]) == 1
    final = await wait_batch(draft_api, nxt["batch_id"])
    (job,) = final["jobs"]
    assert job["state"] == "succeeded", job["error"]
    assert job["result"]["metadata"]["reference"]["mode"] == "next_shot"
    assert frames_of(video_of(job)) == (75, "25/1")
    # the batch keeps the restyle's cut: the next shot lands right after the clip
    placed = await new_clips(draft_api, nxt["batch_id"])
    assert placed[job["id"]][0] == 80


async def test_five_looks_compared_then_one_applied_to_the_rest(
        draft_api: Api, editors_clips: list[Path]) -> None:
    looks = ["film-noir", "anime-cel", "watercolor", "cyberpunk-neon", "golden-hour"]
    answer = await post(draft_api, "/v1/restyle", {
        "clips": [{"path": str(editors_clips[0]), "frame_count": 75}],
        "looks": [{"preset": p} for p in looks], "resolution": "720p"})
    await wait_batch(draft_api, answer["batch_id"])
    r = await draft_api.post(f"/v1/batches/{answer['batch_id']}/compare",
                             {"frames": 3, "tile_width": 192})
    assert r.status == 200, await r.text()
    (picture,) = (await r.json())["pictures"]
    assert [c["look"] for c in picture["columns"]] == ["source", *looks]
    assert [c["job_id"] for c in picture["columns"][1:]] == [j["id"] for j in answer["jobs"]]
    from tests.media.test_comparison import read_columns

    seen = read_columns(Path(picture["path"]), 6, 192, 108)
    assert [c["number"] for c in seen] == [0, 1, 2, 3, 4, 5]
    middle = seen[1]["middle"]  # film noir: grey
    assert isinstance(middle, tuple) and max(middle) - min(middle) < 16
    # "apply look 3 to the rest": the other clip, in watercolor, the reference left out
    # (its plan: rendering it is what "to all" below does, and test_kling_chains renders
    # "the rest" on Kling)
    picked = picture["columns"][3]["job_id"]
    rest = await post(draft_api, "/v1/restyle", {
        "clips": [{"path": str(c)} for c in editors_clips],
        "apply_look": {"job_id": picked}, "dry_run": True}, 200)
    (job,) = rest["jobs"]
    assert job["spec"]["look"]["preset"] == "watercolor"
    assert job["spec"]["resolution"] == "720p"  # the compared look's settings
    assert job["spec"]["source"]["path"] == str(editors_clips[1])
    assert rest["skipped"][0]["name"] == "A001"
    # "to all": the compared clip too -- served from the result cache, nothing sent again
    unified = await post(draft_api, "/v1/restyle", {
        "clips": [{"path": str(c), "frame_count": 75} for c in editors_clips],
        "apply_look": {"job_id": picked, "to": "all"}})
    final = await wait_batch(draft_api, unified["batch_id"])
    assert [[t["cached"] for t in j["tasks"]] for j in final["jobs"]] == [[True], [False]]


async def test_a_character_stays_in_the_picture(draft_api: Api, tmp_path: Path) -> None:
    still = tmp_path / "bolt.png"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=magenta:s=400x400",
                    "-frames:v", "1", str(still)], check=True)
    r = await draft_api.post("/v1/elements", {"name": "Bolt", "images": [str(still)],
                                              "project": "ep1"})
    assert r.status == 201
    make_still(tmp_path / "unused.png", 320, 320)
    answer = await post(draft_api, "/v1/generate", {
        "prompt": "Bolt crosses the square", "duration": 3, "resolution": "720p",
        "characters": ["bolt"], "project": "ep1"})
    final = await wait_batch(draft_api, answer["batch_id"])
    (job,) = final["jobs"]
    assert job["state"] == "succeeded", job["error"]
    assert job["result"]["metadata"]["characters"] == ["Bolt"]
    from tests.providers.test_draft_references import pixel

    inset = pixel(video_of(job), 0.92, 0.35)
    assert inset[0] > 180 and inset[2] > 180 and inset[1] < 90, inset


async def test_a_second_link_the_draft_refuses_keeps_the_first(
        draft_api: Api, editors_clips: list[Path]) -> None:
    # the B-roll's prompt is the look's words plus the editor's: past Kling's 2,500
    # characters, the draft refuses it exactly as Kling would
    words = "rain on the rooftops " * 119
    answer = await post(draft_api, "/v1/restyle", {
        "clips": [{"path": str(editors_clips[0])}], "look": {"preset": "film-noir"},
        "resolution": "720p", "more_like_this": {"prompt": words[:2500], "duration": 3}})
    final = await wait_batch(draft_api, answer["batch_id"])
    restyle, broll = final["jobs"]
    assert restyle["state"] == "succeeded" and broll["state"] == "failed"
    assert "characters; at most 2500" in broll["error"]["message"]
    (chain,) = final["chains"]
    assert chain["state"] == "partial" and final["state"] == "partial"
    assert chain["kept"] == [{"index": 0, "job_id": restyle["id"], "label": restyle["label"],
                              "video": str(video_of(restyle))}]
    assert video_of(restyle).is_file()
    assert chain["stopped_at"]["job_id"] == broll["id"]
    placed = await new_clips(draft_api, answer["batch_id"])
    assert list(placed) == [restyle["id"]]  # what finished is placed; nothing else
