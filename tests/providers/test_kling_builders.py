"""Request building and answer parsing for both standards, and the input rules (pure)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kling_bridge.media.headers import MediaFacts
from kling_bridge.providers.base import (
    AudioMode,
    Cost,
    ErrorKind,
    Operation,
    ProviderError,
    Resolution,
    TaskPhase,
    TaskRequest,
)
from kling_bridge.providers.kling import legacy, rules, standard
from kling_bridge.providers.kling.wire import Inputs, multi_shot_prompt
from kling_bridge.specs import Shot

CLIP = Path("/m/clip.mp4")
STILL = Path("/m/still.png")
REF = Path("/m/ref.jpg")
EDIT = TaskRequest(Operation.EDIT, "kling-3.0-omni", prompt="film noir", video=CLIP,
                   video_duration=4.0, audio_mode=AudioMode.ORIGINAL)
T2V = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", prompt="a fox in snow", duration=5,
                  aspect_ratio="16:9", audio_mode=AudioMode.NATIVE, resolution=Resolution.R720)
I2V = TaskRequest(Operation.IMAGE_TO_VIDEO, "kling-3.0", prompt="she turns", image=STILL,
                  duration=5, aspect_ratio="16:9")
SHOTS = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", prompt="same woman in red",
                    shots=(Shot("she walks in; rain", 3), Shot("close-up", 4)))
INPUTS = Inputs(video="https://h/clip.mp4?sig=1", image="aW1n", reference_image="cmVm")


def test_new_standard_edit_keeps_length_sound_and_framing() -> None:
    path, body = standard.build_create(EDIT, "job-1", INPUTS, "https://cb.example/k")
    assert path == "/omni-video/kling-3.0-omni"
    assert body["settings"] == {"resolution": "1080p", "multi_shot": False, "audio": "original"}
    assert body["options"] == {"external_task_id": "job-1", "callback_url": "https://cb.example/k"}
    assert "callback_url" not in body  # top-level is silently ignored by Kling
    types = [c["type"] for c in body["contents"]]
    assert types == ["prompt", "base_video"]
    assert body["contents"][1] == {"type": "base_video", "url": INPUTS.video, "id": "video_1"}
    assert "@video_1" in body["contents"][0]["text"]


def test_new_standard_edit_with_a_reference_image() -> None:
    req = replace(EDIT, reference_image=REF)
    _, body = standard.build_create(req, "job-1", INPUTS)
    assert {"type": "refer_image", "url": "cmVm", "id": "image_1"} in body["contents"]
    assert "@image_1" in body["contents"][0]["text"]
    assert "callback_url" not in body["options"]


def test_new_standard_text_to_video() -> None:
    path, body = standard.build_create(T2V, "job-2", Inputs())
    assert path == "/text-to-video/kling-3.0"
    assert body["prompt"] == "a fox in snow"
    assert body["settings"] == {"resolution": "720p", "multi_shot": False, "audio": "native",
                                "duration": 5, "aspect_ratio": "16:9"}


def test_new_standard_image_to_video_lets_the_image_decide_the_aspect() -> None:
    path, body = standard.build_create(I2V, "job-3", INPUTS)
    assert path == "/image-to-video/kling-3.0"
    assert "aspect_ratio" not in body["settings"]
    assert body["contents"][1] == {"type": "first_frame", "url": "aW1n", "id": "image_1"}


def test_new_standard_multi_shot_prompt() -> None:
    _, body = standard.build_create(SHOTS, "job-4", Inputs())
    assert body["prompt"] == ("same woman in red shot 1, 3, she walks in, rain; "
                              "shot 2, 4, close-up;")
    assert body["settings"]["multi_shot"] is True and body["settings"]["duration"] == 7
    assert multi_shot_prompt("", [Shot("a", 3)]) == "shot 1, 3, a;"


def test_omni_generation_goes_to_the_omni_endpoint_and_negative_prompt_is_kept() -> None:
    req = replace(T2V, model="kling-3.0-omni", negative_prompt="text, logos")
    path, body = standard.build_create(req, "job-5", Inputs())
    assert path == "/omni-video/kling-3.0-omni"
    assert body["contents"] == [{"type": "prompt", "text": "a fox in snow Avoid: text, logos."}]


def test_new_standard_task_answer_is_parsed() -> None:
    status = standard.parse_task({
        "id": "t1", "status": "succeeded", "message": "", "external_id": "job-1",
        "outputs": [{"type": "video", "id": "o1", "url": "https://r/o1.mp4",
                     "watermark_url": "https://r/w.mp4", "duration": "5.041"}],
        "billing": [{"charge_type": "unit", "amount": "3", "package_type": "video"}],
    })
    assert status.phase is TaskPhase.SUCCEEDED and status.done
    assert status.outputs[0].duration == pytest.approx(5.041)
    assert status.billed == Cost(3.0) and status.external_id == "job-1"
    failed = standard.parse_task({"id": "t2", "status": "failed", "message": "policy"})
    assert failed.phase is TaskPhase.FAILED and failed.message == "policy"


def test_queries_are_batched_twenty_ids_at_most_and_never_mix_kinds() -> None:
    ids = [f"id{i}" for i in range(45)] + ["id0"]
    batches = standard.query_batches(ids, by_external=True)
    assert [len(b["external_task_ids"].split(",")) for b in batches] == [20, 20, 5]
    assert all(list(b) == ["external_task_ids"] for b in batches)
    assert list(standard.query_batches(["a"], by_external=False)[0]) == ["task_ids"]


def test_legacy_edit_uses_video_list_and_mode() -> None:
    req = replace(EDIT, resolution=Resolution.R4K, reference_image=REF)
    path, body = legacy.build_create(req, "job-6", INPUTS, "https://cb")
    assert path == "/v1/videos/omni-video"
    assert body["model_name"] == "kling-v3-omni" and body["mode"] == "4k"
    assert body["video_list"] == [{"video_url": INPUTS.video, "refer_type": "base",
                                   "keep_original_sound": "yes"}]
    assert body["image_list"] == [{"image_url": "cmVm"}]
    assert body["external_task_id"] == "job-6" and body["callback_url"] == "https://cb"
    assert "duration" not in body and body["multi_shot"] is False


def test_legacy_generation_sends_duration_as_a_string() -> None:
    path, body = legacy.build_create(T2V, "job-7", Inputs())
    assert path == "/v1/videos/text2video"
    assert body["duration"] == "5" and body["mode"] == "std" and body["sound"] == "on"
    assert body["model_name"] == "kling-v3" and body["aspect_ratio"] == "16:9"
    _, shots = legacy.build_create(SHOTS, "job-8", Inputs())
    assert shots["multi_shot"] is True and shots["duration"] == "7"
    assert shots["multi_prompt"][0] == {"index": 1, "prompt": "she walks in; rain",
                                        "duration": "3"}
    path, i2v = legacy.build_create(I2V, "job-9", INPUTS)
    assert path == "/v1/videos/image2video" and i2v["image"] == "aW1n"
    assert "aspect_ratio" not in i2v


def test_legacy_answers_succeed_quirk_and_task_status_msg() -> None:
    ok = legacy.parse_task({
        "task_id": "k1", "task_status": "succeed", "task_info": {"external_task_id": "job-1"},
        "task_result": {"videos": [{"id": "v", "url": "https://r/v.mp4", "duration": "4.0"}]},
        "final_unit_deduction": "4.8",
    }, legacy.OMNI)
    assert ok.phase is TaskPhase.SUCCEEDED and ok.task_id == "omni-video/k1"
    assert ok.billed == Cost(4.8) and ok.outputs[0].url == "https://r/v.mp4"
    bad = legacy.parse_task({"task_id": "k2", "task_status": "failed",
                             "task_status_msg": "Failure to pass the risk control system"},
                            legacy.TEXT2VIDEO)
    assert bad.phase is TaskPhase.FAILED and "risk control" in bad.message
    assert legacy.split_ref("advanced-lip-sync/k3") == ("advanced-lip-sync", "k3")
    assert legacy.is_ref("text2video/abc") and not legacy.is_ref("plain-id")


def test_legacy_lipsync_body() -> None:
    path, body = legacy.build_lipsync(session_id="s1", face_id="0", sound="c291bmQ=",
                                      sound_seconds=3.5, external_id="job-10")
    assert path == "/v1/videos/advanced-lip-sync"
    assert body["face_choose"][0]["sound_end_time"] == 3500
    assert body["external_task_id"] == "job-10"
    assert legacy.parse_identify_face({"session_id": "s1", "face_data": [{"face_id": "0"}]}) == (
        "s1", ["0"])


# ----------------------------------------------------------------------------- rules

GOOD_VIDEO = MediaFacts(CLIP, 5_000_000, "mov,mp4,m4a,3gp,3g2,mj2", "h264", 1280, 720, 25.0, 4.0,
                        True, True)
GOOD_IMAGE = MediaFacts(STILL, 200_000, "png_pipe", "png", 1024, 576)
GOOD_REF = replace(GOOD_IMAGE, path=REF, codec="mjpeg")
FACTS = {CLIP: GOOD_VIDEO, STILL: GOOD_IMAGE, REF: GOOD_REF}


@pytest.mark.parametrize("request_", [EDIT, T2V, I2V, SHOTS, replace(EDIT, reference_image=REF)])
def test_good_requests_pass(request_: TaskRequest) -> None:
    for std in ("new", "legacy"):
        rules.check(request_, std, FACTS)


def _refused(request: TaskRequest, facts: dict[Path, MediaFacts] | None = None,
             standard_: str = "new") -> str:
    with pytest.raises(ProviderError) as exc:
        rules.check(request, standard_, FACTS if facts is None else facts)
    assert exc.value.kind is ErrorKind.BAD_REQUEST
    return f"{exc.value} {exc.value.hint}"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"duration": 2.9}, "3-15.5 s"),
        ({"duration": 15.6}, "3-15.5 s"),
        ({"width": 640, "height": 360}, "700-4553"),
        ({"width": 4600, "height": 2600}, "700-4553"),
        ({"width": 4096, "height": 2160}, "pixels"),
        ({"width": 2100, "height": 1000}, "aspect"),
        ({"fps": 23.976}, "fps"),
        ({"fps": 120.0}, "fps"),
        ({"size_bytes": 201 * 2**20}, "MB"),
        ({"format_name": "matroska,webm"}, "mp4/mov"),
    ],
)
def test_every_video_limit(change: dict[str, object], words: str) -> None:
    bad = replace(GOOD_VIDEO, **change)  # type: ignore[arg-type]
    assert words in _refused(EDIT, {**FACTS, CLIP: bad})


def test_o1_has_tighter_video_limits() -> None:
    long = replace(GOOD_VIDEO, duration=11.0)
    assert "3-10 s" in _refused(replace(EDIT, model="kling-o1"), {**FACTS, CLIP: long})


@pytest.mark.parametrize(
    ("change", "words"),
    [({"width": 299}, "300 px"), ({"width": 2000, "height": 700}, "aspect"),
     ({"codec": "webp"}, "JPEG or PNG"), ({"size_bytes": 51 * 2**20}, "MB")],
)
def test_every_image_limit(change: dict[str, object], words: str) -> None:
    bad = replace(GOOD_IMAGE, **change)  # type: ignore[arg-type]
    assert words in _refused(I2V, {**FACTS, STILL: bad})


def test_legacy_images_are_limited_to_10_mb() -> None:
    big = replace(GOOD_IMAGE, size_bytes=11 * 2**20)
    rules.check(I2V, "new", {**FACTS, STILL: big})
    assert "10 MB" in _refused(I2V, {**FACTS, STILL: big}, "legacy")


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (replace(EDIT, image=STILL), "first or last frame"),
        (replace(EDIT, audio_mode=AudioMode.NATIVE), "original or off"),
        (replace(EDIT, model="kling-3.0"), "omni"),
        (replace(EDIT, prompt=" "), "words"),
        (replace(EDIT, video=Path("/m/missing.mp4")), "not found"),
        (replace(T2V, duration=16), "3-15"),
        (replace(T2V, duration=None), "duration"),
        (replace(T2V, prompt=""), "prompt"),
        (replace(T2V, prompt="x" * 3073), "3072"),
        (replace(T2V, aspect_ratio="4:3"), "16:9"),
        (replace(T2V, audio_mode=AudioMode.ORIGINAL), "source clip"),
        (replace(T2V, model="kling-3.0-turbo", resolution=Resolution.R4K), "4K"),
        (replace(T2V, model="kling-9"), "Unknown"),
        (replace(I2V, image=None), "first frame"),
        (replace(SHOTS, shots=tuple(Shot("s", 2) for _ in range(7))), "1-6 shots"),
        (replace(SHOTS, shots=(Shot("a", 0), Shot("b", 5))), "at least 1 s"),
        (replace(SHOTS, shots=(Shot("a" * 513, 3),)), "512"),
        (replace(SHOTS, duration=8), "sum to 7"),
        (replace(SHOTS, shots=(Shot("a", 10), Shot("b", 6))), "3-15"),
    ],
)
def test_request_rules(request_: TaskRequest, words: str) -> None:
    assert words in _refused(request_)


def test_legacy_specific_rules() -> None:
    assert "2500" in _refused(replace(T2V, prompt="x" * 2501), standard_="legacy")
    assert "new API standard" in _refused(replace(T2V, model="kling-3.0-turbo"),
                                          standard_="legacy")


def test_lipsync_rules() -> None:
    audio = Path("/m/line.wav")
    facts = {**FACTS, audio: MediaFacts(audio, 100_000, "wav", "pcm_s16le", duration=8.0,
                                        has_audio=True)}
    ok = TaskRequest(Operation.LIPSYNC, "kling-3.0", video=CLIP, audio=audio,
                     audio_range=(1.0, 4.0))
    rules.check(ok, "new", facts)
    rules.check(replace(ok, video=None, image=STILL), "legacy", facts)
    assert "2-60 s" in _refused(replace(ok, audio_range=(1.0, 2.5)), facts)
    assert "outside" in _refused(replace(ok, audio_range=(1.0, 9.0)), facts)
    assert "video or an image" in _refused(replace(ok, video=None), facts)
