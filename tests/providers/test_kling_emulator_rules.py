"""The emulator enforces kling-api.md itself (independently of the client's own rules), so
a rule the client forgot shows up as Kling's 1201 -- these tests hold it to the contract."""

from __future__ import annotations

import base64
import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.kling_emulator import KlingEmulator
from tests.providers.conftest import MakeProvider, Media, ffmpeg
from tests.shared_files import make_once, shared_folder

from kling_bridge.hosting import SignedLinkHost
from kling_bridge.providers.base import ErrorKind, ProviderError


@pytest.fixture(scope="session")
def bad_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Inputs Kling refuses, each in one way. Made once per run (all xdist workers share
    them; nothing writes to them) by two ffmpeg runs: one writes every file but the turned
    clip, which is a stream copy of the upright one with a rotation tag."""
    d = shared_folder(tmp_path_factory, "bad-media")
    gray = "color=c=gray:size={}:rate={}:duration={}"
    # mpeg4 at low quality: the limits are about geometry and timing, and it is fast.
    mpeg4 = ["-c:v", "mpeg4", "-q:v", "31"]
    recipes: dict[str, tuple[str, list[str]]] = {
        "short.mp4": (gray.format("720x720", 24, 2), mpeg4),
        "long.mp4": (gray.format("720x720", 1, 16), mpeg4),
        "narrow.mp4": (gray.format("640x720", 24, 3), mpeg4),
        "huge.mp4": (gray.format("4096x2160", 1, 3), mpeg4),
        "wide.mp4": (gray.format("1500x704", 24, 3), mpeg4),
        "slow.mp4": (gray.format("704x704", 20, 3), mpeg4),
        "clip.mkv": (gray.format("720x720", 24, 3), mpeg4),
        # Where kling-api.md does not say which reading applies, the emulator holds inputs
        # to both: the picture as stored and as displayed, the container's length and the
        # video's.
        "squeezed.mp4": (gray.format("720x720", 24, 3), ["-vf", "setsar=1/2", *mpeg4]),
        "upright.mp4": (gray.format("720x1500", 24, 3), mpeg4),
        "short-picture.mp4": (gray.format("720x720", 24, 2.5), mpeg4),
        "tiny.png": ("testsrc2=size=299x400:rate=1:duration=1", ["-frames:v", "1"]),
        "thin.png": ("testsrc2=size=1000x390:rate=1:duration=1", ["-frames:v", "1"]),
    }
    out = {name: d / name for name in recipes}
    out["turned.mp4"] = d / "turned.mp4"
    with make_once(d) as must:
        if must:
            inputs: list[str] = []
            outputs: list[str] = []
            for n, (name, (src, args)) in enumerate(recipes.items()):
                inputs += ["-f", "lavfi", "-i", src]
                outputs += ["-map", f"{n}:v", *args, str(out[name])]
            sound = len(recipes)  # the short picture's longer sound (3.5 s)
            inputs += ["-f", "lavfi", "-i", "sine=duration=3.5"]
            at = outputs.index(str(out["short-picture.mp4"]))
            outputs[at:at] = ["-map", f"{sound}:a", "-c:a", "aac"]
            ffmpeg(*inputs, *outputs)
            # a phone's vertical clip tagged to play turned: 1500x720 on screen
            ffmpeg("-i", str(out["upright.mp4"]), "-c", "copy", "-metadata:s:v:0", "rotate=90",
                   str(out["turned.mp4"]))
    del out["upright.mp4"]
    return out


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


async def _refusal(provider: Any, path: str, body: dict[str, Any]) -> ProviderError:
    with pytest.raises(ProviderError) as exc:
        await provider.client.call("POST", path, body=body, creating=True)
    return exc.value


OMNI = "/omni-video/kling-3.0-omni"


async def test_new_standard_body_rules(make_provider: MakeProvider, signed_host: SignedLinkHost,
                                       media: Media, emulator: KlingEmulator) -> None:
    provider = make_provider("new")
    url = await signed_host.publish(media.clip, "rules")
    edit: dict[str, Any]
    edit = {"contents": [{"type": "prompt", "text": "anime @video_1"},
                         {"type": "base_video", "url": url, "id": "video_1"}],
            "settings": {"multi_shot": False, "audio": "original"},
            "options": {"external_task_id": "ok-edit"}}
    await provider.client.call("POST", OMNI, body=edit, creating=True)  # the valid one passes

    def changed(fn: Any) -> dict[str, Any]:
        body = copy.deepcopy(edit)
        body["options"]["external_task_id"] = f"x{id(fn)}"
        fn(body)
        return body

    cases: list[tuple[Any, str]] = [
        (lambda b: b["settings"].update(multi_shot=True), "multi_shot must be false"),
        (lambda b: b["settings"].pop("multi_shot"), "multi_shot must be false"),
        (lambda b: b["settings"].update(audio="native"), "original or off"),
        (lambda b: b["settings"].update(duration=5), "duration is not accepted"),
        (lambda b: b["contents"].append({"type": "first_frame", "url": b64(media.still)}),
         "first_frame"),
        (lambda b: b["contents"].append({"type": "feature_video", "url": url}),
         "one video per task"),
        (lambda b: b["contents"][1].update(url=b64(media.clip)), "http(s) URL"),
        (lambda b: b["contents"][0].update(text="x" * 3073), "3072"),
        (lambda b: b["settings"].update(resolution="8k"), "resolution"),
        (lambda b: b["settings"].update(aspect_ratio="4:3"), "aspect_ratio"),
        (lambda b: b["contents"][1].update(url=url.replace("?e=", "?e=1")), "could not fetch"),
    ]
    for fn, words in cases:
        err = await _refusal(provider, OMNI, changed(fn))
        assert err.code == 1201 and words in err.message, (words, err.message)
    dup = await _refusal(provider, OMNI, changed(
        lambda b: b["options"].update(external_task_id="ok-edit")))
    assert dup.kind is ErrorKind.DUPLICATE

    t2v: dict[str, Any] = {"prompt": "a fox", "settings": {"duration": 5}, "options": {}}
    for change, words in [({"duration": "5"}, "integer"), ({"duration": 16}, "between 3 and 15"),
                          ({"audio": "original"}, "native or off")]:
        body = copy.deepcopy(t2v)
        body["settings"].update(change)
        err = await _refusal(provider, "/text-to-video/kling-3.0", body)
        assert words in err.message
    shots = {"prompt": "shot 1, 2, a; shot 2, 2, b;", "settings": {"duration": 5}}
    assert "sum" in (await _refusal(provider, "/text-to-video/kling-3.0", shots)).message
    seven = {"prompt": " ".join(f"shot {i}, 1, x;" for i in range(1, 8)),
             "settings": {"duration": 7}}
    assert "1 to 6" in (await _refusal(provider, "/text-to-video/kling-3.0", seven)).message
    i2v = {"contents": [{"type": "first_frame", "url": b64(media.still)}],
           "settings": {"aspect_ratio": "16:9"}}
    assert "aspect_ratio" in (await _refusal(provider, "/image-to-video/kling-3.0", i2v)).message
    turbo = {"prompt": "x", "settings": {"resolution": "4k"}}
    assert "4k" in (await _refusal(provider, "/text-to-video/kling-3.0-turbo", turbo)).message
    unknown = await _refusal(provider, "/text-to-video/kling-9", {"prompt": "x"})
    assert unknown.code == 1203 and unknown.kind is ErrorKind.NOT_FOUND
    cb = {"prompt": "x", "callback_url": "https://ignored.example/", "settings": {}}
    await provider.client.call("POST", "/text-to-video/kling-3.0", body=cb, creating=True)
    assert emulator.stats.ignored_top_level_callback == 1


@pytest.mark.parametrize(
    ("name", "words"),
    [("short.mp4", "between 3 and 15.5"), ("long.mp4", "between 3 and 15.5"),
     ("narrow.mp4", "700"), ("huge.mp4", "8294400"), ("wide.mp4", "aspect ratio"),
     ("slow.mp4", "frame rate"), ("clip.mkv", "mp4 or mov"),
     ("squeezed.mp4", "(got 360x720)"), ("turned.mp4", "aspect ratio must be between 0.4 and 2 "
                                                      "(got 1500x720)"),
     ("short-picture.mp4", "between 3 and 15.5 seconds (got 2.500)")],
)
async def test_video_limits_are_checked_on_the_fetched_file(
    name: str, words: str, bad_media: dict[str, Path], make_provider: MakeProvider,
    signed_host: SignedLinkHost,
) -> None:
    provider = make_provider("new")
    url = await signed_host.publish(bad_media[name], "limits")
    body = {"contents": [{"type": "prompt", "text": "anime"},
                         {"type": "base_video", "url": url, "id": "video_1"}],
            "settings": {"multi_shot": False, "audio": "off"}}
    assert words in (await _refusal(provider, OMNI, body)).message


@pytest.mark.parametrize(("name", "words"), [("tiny.png", "300"), ("thin.png", "aspect")])
async def test_image_limits(name: str, words: str, bad_media: dict[str, Path],
                            make_provider: MakeProvider) -> None:
    provider = make_provider("new")
    body = {"contents": [{"type": "first_frame", "url": b64(bad_media[name])}],
            "settings": {"duration": 5}}
    assert words in (await _refusal(provider, "/image-to-video/kling-3.0", body)).message


async def test_legacy_body_rules(make_provider: MakeProvider, signed_host: SignedLinkHost,
                                 media: Media) -> None:
    provider = make_provider("legacy")
    t2v = {"model_name": "kling-v3", "prompt": "a fox", "duration": "5", "mode": "std"}
    await provider.client.call("POST", "/v1/videos/text2video", body=t2v, creating=True)
    url = await signed_host.publish(media.clip, "legacy-rules")
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("text2video", {**t2v, "duration": 5}, "must be a string"),
        ("text2video", {**t2v, "mode": "ultra"}, "mode"),
        ("text2video", {**t2v, "prompt": "x" * 2501}, "2500"),
        ("text2video", {**t2v, "model_name": "kling-v3-omni"}, "model_name"),
        ("text2video", {**t2v, "multi_shot": True, "multi_prompt": [
            {"index": 1, "prompt": "a", "duration": "2"}]}, "sum"),
        ("image2video", {**t2v, "image": "data:image/png;base64," + b64(media.still)},
         "data: prefix"),
        ("omni-video", {"model_name": "kling-v3-omni", "prompt": "anime", "duration": "5",
                        "video_list": [{"video_url": url, "refer_type": "base"}]},
         "duration is not accepted"),
        ("omni-video", {"model_name": "kling-v3-omni", "prompt": "anime", "sound": "on",
                        "video_list": [{"video_url": url, "refer_type": "base"}]}, "sound"),
        ("omni-video", {"model_name": "kling-v3-omni", "prompt": "anime",
                        "video_list": [{"video_url": url, "refer_type": "base"}],
                        "image_list": [{"image_url": b64(media.still), "type": "first_frame"}]},
         "first_frame"),
    ]
    for endpoint, body, words in cases:
        err = await _refusal(provider, f"/v1/videos/{endpoint}", body)
        assert words in err.message, (words, err.message)


async def test_lipsync_rules(make_provider: MakeProvider, signed_host: SignedLinkHost,
                             media: Media, tmp_path: Path) -> None:
    provider = make_provider("legacy")
    url = await signed_host.publish(media.clip, "lip")
    face = await provider.client.call("POST", "/v1/videos/identify-face",
                                      body={"video_url": url})
    short = tmp_path / "short.wav"
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1",
                    str(short)], check=True)
    base = {"session_id": face["session_id"],
            "face_choose": [{"face_id": "0", "sound_file": b64(media.dialogue),
                             "sound_start_time": 0, "sound_end_time": 3000,
                             "sound_insert_time": 0}]}
    path = "/v1/videos/advanced-lip-sync"
    bad_session = {**base, "session_id": "nope"}
    assert "session" in (await _refusal(provider, path, bad_session)).message
    too_short = copy.deepcopy(base)
    too_short["face_choose"][0].update(sound_file=b64(short), sound_end_time=1000)
    assert "2 to 60" in (await _refusal(provider, path, too_short)).message
    wrong_face = copy.deepcopy(base)
    wrong_face["face_choose"][0]["face_id"] = "7"
    assert "face_id" in (await _refusal(provider, path, wrong_face)).message
    await provider.client.call("POST", path, body=base, creating=True)


async def test_task_queries_follow_the_observed_quirks(make_provider: MakeProvider) -> None:
    provider = make_provider("new")
    err = None
    with pytest.raises(ProviderError) as exc:
        await provider.client.call("GET", "/tasks", params={"task_ids": "a",
                                                            "external_task_ids": "b"})
    err = exc.value
    assert "not both" in err.message
    with pytest.raises(ProviderError) as exc:
        await provider.client.call("GET", "/tasks",
                                   params={"task_ids": ",".join(str(i) for i in range(21))})
    assert "20" in exc.value.message
    assert await provider.client.call("GET", "/tasks", params={"task_ids": "nope"}) == []
    legacy = make_provider("legacy")
    with pytest.raises(ProviderError) as exc:
        await legacy.client.call("GET", "/v1/videos/text2video/nope")
    assert exc.value.code == 1202
