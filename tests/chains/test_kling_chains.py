"""Every chain through the real KlingProvider against the emulator (which holds each request
to kling-api.md on its own): what each link sent, what it was charged, one task per link,
and a second link Kling refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kling_bridge.media.probe import probe
from tests.api.conftest import Api
from tests.chains.conftest import video_of, wait_batch
from tests.kling_emulator import KlingEmulator

pytestmark = pytest.mark.asyncio


def creates(emulator: KlingEmulator) -> list[dict[str, Any]]:
    """The create calls the emulator saw, in order (path and body)."""
    return [r for r in emulator.stats.requests if r["method"] == "POST"
            and r["path"].startswith(("/omni-video", "/text-to-video", "/image-to-video"))]


def one_task_per_link(final: dict[str, Any], emulator: KlingEmulator) -> list[str]:
    keys = [t["external_id"] for j in final["jobs"] for t in j["tasks"]]
    assert {k: emulator.stats.tasks_created[k] for k in keys} == dict.fromkeys(keys, 1)
    assert {k: emulator.stats.creates_attempted[k] for k in keys} == dict.fromkeys(keys, 1)
    return keys


async def post(api: Api, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(path, body)
    assert r.status in (200, 201), await r.text()
    answer: dict[str, Any] = await r.json()
    return answer


async def test_generate_then_restyle_on_kling(kling_api: Api, emulator: KlingEmulator) -> None:
    body = {"prompt": "a harbour at dawn", "duration": 4, "resolution": "720p",
            "then": [{"preset": "film-noir"}]}
    plan = await post(kling_api, "/v1/generate", {**body, "dry_run": True})
    # Kling's prices: 3.0 silent 720p 0.6/s for 4 s, then O3 with a video input 0.9/s
    assert [j["estimate"]["units"] for j in plan["jobs"]] == [2.4, 3.6]
    assert plan["estimate"]["units"] == 6.0 and plan["paid"]
    assert emulator.stats.tasks_created == {}
    answer = await post(kling_api, "/v1/generate", body)
    final = await wait_batch(kling_api, answer["batch_id"])
    assert final["state"] == "succeeded", json.dumps(final["chains"], indent=1)
    one_task_per_link(final, emulator)
    t2v, edit = creates(emulator)
    assert t2v["path"] == "/text-to-video/kling-3.0"
    assert edit["path"] == "/omni-video/kling-3.0-omni"
    contents = edit["body"]["contents"]
    assert [c["type"] for c in contents] == ["prompt", "base_video"]
    # the restyle's input was the generated clip: Kling's own 24 fps answer, conformed
    # nowhere (no placement), fitted for the edit
    gen, restyle = final["jobs"]
    assert restyle["spec"]["source"]["path"] == str(video_of(gen))
    assert final["chains"][0]["billed_units"] == pytest.approx(2.4 + 0.9 * 4, abs=0.2)


async def test_restyle_then_b_roll_on_kling_sends_a_silent_feature_video(
        kling_api: Api, emulator: KlingEmulator, editors_clips: list[Path]) -> None:
    answer = await post(kling_api, "/v1/restyle", {
        "clips": [{"path": str(editors_clips[0])}], "look": {"preset": "anime-cel"},
        "resolution": "720p", "more_like_this": {"prompt": "the street outside",
                                                 "duration": 3}})
    final = await wait_batch(kling_api, answer["batch_id"])
    assert final["state"] == "succeeded", json.dumps(final["chains"], indent=1)
    one_task_per_link(final, emulator)
    _, like = creates(emulator)
    assert like["path"] == "/omni-video/kling-3.0-omni"
    assert like["body"]["settings"] == {"resolution": "720p", "multi_shot": False,
                                        "audio": "off", "duration": 3, "aspect_ratio": "16:9"}
    types = [c["type"] for c in like["body"]["contents"]]
    assert types == ["prompt", "feature_video"]
    text = like["body"]["contents"][0]["text"]
    assert text.startswith("In the look and style of @video_1: Anime cel")
    assert text.endswith("the street outside")
    # Kling fetched the restyled clip (fitted: 3.2 s, a 700 px side at least)
    fetched = [i for t in emulator.tasks.values() for i in t.inputs if i["what"] == "video"]
    assert len(fetched) == 2 and min(fetched[1]["width"], fetched[1]["height"]) >= 700
    broll = final["jobs"][1]
    v = probe(video_of(broll)).video
    assert v is not None and v.frame_count == 75  # conformed to the clip's 25 fps, 3 s
    task = next(t for t in emulator.tasks.values() if t.external_id ==
                broll["tasks"][0]["external_id"])
    assert task.units == pytest.approx(0.9 * 3)  # O3 with a video input


async def test_next_shot_and_a_character_on_kling(kling_api: Api, emulator: KlingEmulator,
                                                  editors_clips: list[Path],
                                                  tmp_path: Path) -> None:
    from kling_bridge.media.synth import make_still

    still = make_still(tmp_path / "ada.png", 640, 640)
    r = await kling_api.post("/v1/elements", {"name": "Ada", "images": [str(still)]})
    assert r.status == 201
    r = await kling_api.post("/v1/elements", {"name": "Bolt", "images": [str(still)],
                                              "element_id": "el-bolt"})
    assert r.status == 201
    answer = await post(kling_api, "/v1/generate", {
        "prompt": "Ada and Bolt walk on", "duration": 3, "resolution": "720p",
        "characters": ["Ada", "Bolt"],
        "reference": {"clip": {"path": str(editors_clips[1])}, "mode": "next_shot"}})
    final = await wait_batch(kling_api, answer["batch_id"])
    (job,) = final["jobs"]
    assert job["state"] == "succeeded", job["error"]
    one_task_per_link(final, emulator)
    (sent,) = creates(emulator)
    contents = sent["body"]["contents"]
    assert [c["type"] for c in contents] == ["prompt", "feature_video", "refer_image",
                                              "element"]
    assert contents[3]["element_id"] == "el-bolt"
    assert contents[0]["text"].startswith("The next shot after @video_1, continuing it")
    assert "(Ada, Bolt)" in contents[0]["text"]


async def test_a_second_link_kling_refuses_keeps_the_first(kling_api: Api,
                                                           emulator: KlingEmulator) -> None:
    emulator.add_fault(on="create", action="error", code=1301, path_contains="/omni-video",
                       message="content safety: the prompt was refused")
    answer = await post(kling_api, "/v1/generate", {
        "prompt": "a harbour at dawn", "duration": 3, "resolution": "720p",
        "then": [{"preset": "film-noir"}]})
    final = await wait_batch(kling_api, answer["batch_id"])
    gen, restyle = final["jobs"]
    assert gen["state"] == "succeeded" and restyle["state"] == "failed"
    assert "content safety" in restyle["error"]["message"]
    (chain,) = final["chains"]
    assert chain["state"] == "partial" and final["state"] == "partial"
    assert chain["kept"][0]["job_id"] == gen["id"]
    assert Path(chain["kept"][0]["video"]).is_file()
    assert chain["stopped_at"]["job_id"] == restyle["id"]
    # the generation was paid once; the refused create made no task and cost nothing
    assert emulator.stats.tasks_created == {gen["tasks"][0]["external_id"]: 1}
    assert final["billed"]["units"] == pytest.approx(0.6 * 3)
