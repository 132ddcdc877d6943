"""Kling's omni references -- ``feature_video``, ``refer_image``, ``element`` -- as the
bridge builds them (pure), as its rules check them, and as the emulator, holding them to
kling-api.md on its own, takes or refuses them."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.kling_emulator import KlingEmulator
from tests.providers.conftest import MakeProvider, Media
from tests.providers.test_kling_emulator_rules import _refusal, b64

from kling_bridge.hosting import SignedLinkHost
from kling_bridge.media.headers import MediaFacts
from kling_bridge.providers.base import (
    AudioMode,
    ErrorKind,
    Operation,
    ProviderError,
    Resolution,
    TaskRequest,
)
from kling_bridge.providers.kling import legacy, pricing, rules, standard
from kling_bridge.providers.kling.wire import Inputs

CLIP = Path("/m/restyled.mp4")
ADA = Path("/m/ada.png")
LIKE = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0-omni", prompt="rooftops at dusk",
                   duration=5, aspect_ratio="16:9", resolution=Resolution.R720,
                   feature_video=CLIP, feature_seconds=4.0)
CAST = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0-omni", prompt="Ada walks in",
                   duration=5, refer_images=(ADA,), elements=("el-42",),
                   element_stills=(Path("/m/bob.png"),), labels=("Ada", "Bob"))
INPUTS = Inputs(feature_video="https://h/restyled.mp4?sig=1", refer_images=("YWRh",))


def test_new_standard_more_like_this_and_next_shot() -> None:
    path, body = standard.build_create(LIKE, "kb-1", INPUTS)
    assert path == "/omni-video/kling-3.0-omni"
    assert body["settings"] == {"resolution": "720p", "multi_shot": False, "audio": "off",
                                "duration": 5, "aspect_ratio": "16:9"}
    contents = body["contents"]
    assert contents[0]["text"] == "In the look and style of @video_1: rooftops at dusk"
    assert {"type": "feature_video", "url": INPUTS.feature_video, "id": "video_1"} in contents
    nxt = replace(LIKE, feature_mode="next_shot")
    _, body = standard.build_create(nxt, "kb-2", INPUTS)
    assert body["contents"][0]["text"].startswith("The next shot after @video_1, continuing")


def test_new_standard_character_stills_and_elements() -> None:
    _, body = standard.build_create(CAST, "kb-3", INPUTS)
    contents = body["contents"]
    assert {"type": "refer_image", "url": "YWRh", "id": "image_4"} in contents
    assert {"type": "element", "element_id": "el-42", "id": "element_1"} in contents
    text = contents[0]["text"]
    assert "@image_4" in text and "@element_1" in text and "(Ada, Bob)" in text
    # every input the prompt names is in contents, under one id each
    ids = [c["id"] for c in contents if c["type"] != "prompt"]
    assert len(ids) == len(set(ids))


def test_legacy_standard_names_references_in_words() -> None:
    _, body = legacy.build_create(LIKE, "kb-4", INPUTS)
    assert body["video_list"] == [{"video_url": INPUTS.feature_video, "refer_type": "feature",
                                   "keep_original_sound": "no"}]
    assert body["image_list"] == [{"image_url": "YWRh"}]
    assert body["sound"] == "off" and "@" not in body["prompt"]
    assert body["prompt"].startswith("In the look and style of the reference video")


def test_a_video_reference_is_priced_as_o3_with_a_video_input() -> None:
    table = pricing.load_table()
    assert pricing.estimate(LIKE, table).units == pytest.approx(0.9 * 5)
    assert pricing.estimate(CAST, table).units == pytest.approx(0.8 * 5)  # 1080p, no video


def facts_for(*paths: Path) -> dict[Path, MediaFacts]:
    out = {}
    for p in paths:
        if p.suffix == ".mp4":
            out[p] = MediaFacts(p, 1000, "mov,mp4", "h264", 1280, 720, 24.0, 4.0, True)
        else:
            out[p] = MediaFacts(p, 1000, "png_pipe", "png", 800, 800, 0, 0, True)
    return out


def refused(request: TaskRequest, standard_name: str = "new") -> str:
    with pytest.raises(ProviderError) as caught:
        rules.check(request, standard_name,
                    facts_for(CLIP, ADA, Path("/m/bob.png"), Path("/m/still.png")))
    assert caught.value.kind is ErrorKind.BAD_REQUEST
    return caught.value.message


def test_rules_for_references() -> None:
    rules.check(LIKE, "new", facts_for(CLIP))
    rules.check(CAST, "new", facts_for(ADA, Path("/m/bob.png")))
    assert "silent" in refused(replace(LIKE, audio_mode=AudioMode.NATIVE))
    assert "takes no reference" in refused(replace(LIKE, model="kling-3.0"))
    assert "legacy API standard has no element" in refused(CAST, "legacy")
    assert "first frame" in refused(replace(CAST, model="kling-3.0", refer_images=(),
                                            element_stills=()))
    i2v = TaskRequest(Operation.IMAGE_TO_VIDEO, "kling-3.0", "x", duration=5,
                      image=Path("/m/still.png"), elements=("a", "b", "c", "d"))
    assert "at most 3" in refused(i2v)
    rules.check(replace(i2v, elements=("a", "b", "c")), "new", facts_for(Path("/m/still.png")))


async def test_emulator_holds_references_to_the_contract(
        make_provider: MakeProvider, signed_host: SignedLinkHost, media: Media,
        emulator: KlingEmulator) -> None:
    provider = make_provider("new")
    url = await signed_host.publish(media.clip, "refs")
    like: dict[str, Any]
    like = {"contents": [{"type": "prompt", "text": "In the look of @video_1: rooftops"},
                         {"type": "feature_video", "url": url, "id": "video_1"},
                         {"type": "refer_image", "url": b64(media.still), "id": "image_4"},
                         {"type": "element", "element_id": "el-1", "id": "element_1"}],
            "settings": {"duration": 5, "audio": "off", "resolution": "720p"},
            "options": {"external_task_id": "ok-like"}}
    await provider.client.call("POST", "/omni-video/kling-3.0-omni", body=like, creating=True)
    task = emulator.by_external[(emulator.account.name, "ok-like")]
    assert task.units == pytest.approx(0.9 * 5)  # O3 with a video input

    def changed(fn: Any) -> dict[str, Any]:
        body = copy.deepcopy(like)
        body["options"]["external_task_id"] = f"x{id(fn)}"
        fn(body)
        return body

    cases: list[tuple[Any, str]] = [
        (lambda b: b["settings"].update(audio="native"), "audio must be off"),
        (lambda b: b["contents"][0].update(text="like @video_2"), "@video_2"),
        (lambda b: b["contents"][2].update(id="video_1"), "unique"),
        (lambda b: b["contents"][3].pop("element_id"), "element_id"),
        (lambda b: b["contents"][1].update(url=b64(media.clip)), "http(s) URL"),
        (lambda b: b["contents"].append({"type": "base_video", "url": url, "id": "video_9"}),
         "one video per task"),
    ]
    for fn, words in cases:
        err = await _refusal(provider, "/omni-video/kling-3.0-omni", changed(fn))
        assert err.code == 1201 and words in err.message, (words, err.message)
    i2v = {"contents": [{"type": "first_frame", "url": b64(media.still), "id": "image_1"},
                        *({"type": "element", "element_id": f"e{n}", "id": f"element_{n}"}
                          for n in range(1, 5))],
           "settings": {"duration": 5}}
    assert "at most 3" in (await _refusal(provider, "/image-to-video/kling-3.0", i2v)).message
    emulator.account.elements = frozenset({"el-1"})
    unknown = changed(lambda b: b["contents"][3].update(element_id="el-404"))
    assert "el-404 not found" in (await _refusal(provider, "/omni-video/kling-3.0-omni",
                                                 unknown)).message


async def test_provider_sends_references_as_the_standard_takes_them(
        make_provider: MakeProvider, media: Media, emulator: KlingEmulator) -> None:
    request = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0-omni", "Ada on the roof",
                          duration=3, resolution=Resolution.R720, feature_video=media.clip,
                          refer_images=(media.still,), elements=("el-9",),
                          element_stills=(media.still,), labels=("Ada", "Ada"))
    new = make_provider("new")
    new.validate(request)
    assert new.estimate(request).units == pytest.approx(0.9 * 3)
    await new.submit(request, "kb-new-refs")
    sent = emulator.stats.requests[-1]["body"]
    types = [c["type"] for c in sent["contents"]]
    assert types == ["prompt", "feature_video", "refer_image", "element"]
    legacy_provider = make_provider("legacy")
    as_sent = legacy_provider.as_sent(request)
    assert as_sent.elements == () and as_sent.refer_images == (media.still, media.still)
    await legacy_provider.submit(request, "kb-legacy-refs")
    body = emulator.stats.requests[-1]["body"]
    assert body["video_list"][0]["refer_type"] == "feature"
    assert len(body["image_list"]) == 2 and "element" not in str(body)
