"""Every input rule of kling-api.md, as Kling's server would apply them to a create call.

Written from the contract, independently of the client's own rules (``kling_bridge``'s
``rules.py``), so a rule the client forgets is caught here as a 1201 answer. Media limits
are checked with ffprobe on what was actually fetched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .media import Probe
from .state import KlingError, RenderSpec, bad

Fetch = Callable[[str, str, bool], Awaitable[tuple[Path, Probe]]]

# Prices (units per second) straight from kling-api.md "Prices".
PRICES: dict[tuple[str, str], dict[str, float]] = {
    ("3.0", "silent"): {"720p": 0.6, "1080p": 0.8, "4k": 3.0},
    ("3.0", "native"): {"720p": 0.9, "1080p": 1.2, "4k": 3.0},
    ("turbo", "any"): {"720p": 0.8, "1080p": 1.0},
    ("omni", "video"): {"720p": 0.9, "1080p": 1.2, "4k": 3.0},
    ("omni", "novideo"): {"720p": 0.6, "1080p": 0.8, "4k": 3.0},
}
LIPSYNC_UNITS_PER_5S = 0.5
FACE_DETECTION_UNITS = 0.05

NEW_OMNI_MODELS = {"kling-3.0-omni", "kling-o1"}
NEW_GEN_MODELS = {"kling-3.0", "kling-3.0-turbo"}
LEGACY_MODELS = {
    "omni-video": {"kling-v3-omni": "kling-3.0-omni", "kling-video-o1": "kling-o1"},
    "text2video": {"kling-v3": "kling-3.0"},
    "image2video": {"kling-v3": "kling-3.0"},
}
ASPECTS = {"16:9", "9:16", "1:1"}
RESOLUTIONS = {"720p", "1080p", "4k"}
MODES = {"std": "720p", "pro": "1080p", "4k": "4k"}
SHOT_RE = re.compile(r"shot\s+(\d+)\s*,\s*(\d+)\s*,\s*([^;]*);", re.I)


@dataclass
class Plan:
    """A create that passed: what to render, what it costs, its idempotency key."""

    render: RenderSpec
    units: float
    external_id: str | None
    callback_url: str | None = None


def price(model: str, variant: str, resolution: str, seconds: float) -> float:
    family = "omni" if model in NEW_OMNI_MODELS else "turbo" if "turbo" in model else "3.0"
    key = (family, "any" if family == "turbo" else variant)
    rate = PRICES[key].get(resolution)
    if rate is None:
        raise bad(f"resolution {resolution} is not supported by {model}")
    return round(rate * seconds, 4)


def lipsync_units(seconds: float) -> float:
    return math.ceil(round(seconds / 5.0, 6)) * LIPSYNC_UNITS_PER_5S


def _check_video(p: Probe, model: str) -> None:
    """kling-api.md "Input limits", read strictly: where the contract does not say whether a
    limit applies to the container or the stream, to stored or displayed pixels, the input
    must pass both readings -- so a fit that passes here passes Kling whichever it uses."""
    o1 = model == "kling-o1"
    max_s, max_side = (10.0, 2160) if o1 else (15.5, 4553)
    if not ("mp4" in p.format_name or "mov" in p.format_name) or not p.has_video:
        raise bad("video must be mp4 or mov")
    if p.size > 200 * 1024 * 1024:
        raise bad("video file exceeds 200MB")
    for seconds in (p.duration, p.video_duration or p.duration):
        if not 3.0 <= seconds <= max_s:
            raise bad(f"video duration must be between 3 and {max_s:g} seconds "
                      f"(got {seconds:.3f})")
    for w, h in ((p.width, p.height), (p.display_width or p.width,
                                       p.display_height or p.height)):
        if min(w, h) < 700 or max(w, h) > max_side:
            raise bad(f"video width and height must be between 700 and {max_side} px "
                      f"(got {w}x{h})")
        if w * h > 8_294_400:
            raise bad(f"video resolution exceeds 8294400 pixels (got {w}x{h})")
        if not 0.4 <= w / h <= 2.0:
            raise bad(f"video aspect ratio must be between 0.4 and 2 (got {w}x{h})")
    if not 23.99 <= p.fps <= 60.01:
        raise bad(f"video frame rate must be between 24 and 60 fps (got {p.fps:.3f})")


def _check_image(p: Probe, max_mb: int) -> None:
    if p.video_codec not in ("png", "mjpeg"):
        raise bad("image must be jpg or png")
    if p.size > max_mb * 1024 * 1024:
        raise bad(f"image exceeds {max_mb}MB")
    if min(p.width, p.height) < 300:
        raise bad("image width and height must be at least 300 px")
    if not 1 / 2.5 - 1e-9 <= p.width / p.height <= 2.5 + 1e-9:
        raise bad("image aspect ratio must be between 1:2.5 and 2.5:1")


def _check_shots(shots: list[tuple[int, str]], total: int) -> None:
    if not 1 <= len(shots) <= 6:
        raise bad("multi-shot supports 1 to 6 shots")
    for seconds, words in shots:
        if seconds < 1:
            raise bad("each shot must last at least 1 second")
        if len(words) > 512:
            raise bad("each shot prompt must be at most 512 characters")
    if sum(s for s, _ in shots) != total:
        raise bad("shot durations must sum to the total duration")


def _int_duration(value: Any, *, as_string: bool) -> int:
    if as_string and not isinstance(value, str):
        raise bad("duration must be a string, e.g. \"5\"")
    if not as_string and not isinstance(value, int):
        raise bad("duration must be an integer")
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise bad("duration must be a whole number of seconds") from None
    if not 3 <= seconds <= 15:
        raise bad("duration must be between 3 and 15")
    return seconds


def _external(options: dict[str, Any]) -> str | None:
    ext = options.get("external_task_id")
    if ext is not None and (not isinstance(ext, str) or not ext):
        raise bad("external_task_id must be a non-empty string")
    return ext


# --------------------------------------------------------------------------- new standard


MENTION_RE = re.compile(r"@([A-Za-z]+_[0-9]+)")


def contents_of(items: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [item for group in items.values() for item in group]


def _check_ids(prompt: str, contents: list[dict[str, Any]]) -> None:
    """kling-api.md: "The prompt refers to inputs as @video_1, @image_1" -- so every input
    it names must be there, under one id each."""
    ids = [str(c["id"]) for c in contents if c.get("type") != "prompt" and c.get("id")]
    if len(ids) != len(set(ids)):
        raise bad("contents ids must be unique")
    for name in MENTION_RE.findall(prompt):
        if name not in ids:
            raise bad(f"the prompt refers to @{name}, which is not in contents")


async def check_new(kind: str, model: str, body: dict[str, Any], fetch: Fetch,
                    elements: frozenset[str] | None = None) -> Plan:
    """``kind``: omni-video | text-to-video | image-to-video. ``elements``: the element ids
    the account holds (empty or None: any)."""
    if (kind == "omni-video" and model not in NEW_OMNI_MODELS) or (
        kind != "omni-video" and model not in NEW_GEN_MODELS
    ):
        raise KlingError(404, 1203, f"model {model} not found for {kind}")
    settings = body.get("settings") or {}
    options = body.get("options") or {}
    if not isinstance(settings, dict) or not isinstance(options, dict):
        raise bad("settings and options must be objects")
    resolution = settings.get("resolution", "720p")
    if resolution not in RESOLUTIONS:
        raise bad("settings.resolution must be 720p, 1080p or 4k")
    aspect = settings.get("aspect_ratio")
    if aspect is not None and aspect not in ASPECTS:
        raise bad("settings.aspect_ratio must be 16:9, 9:16 or 1:1")
    audio = settings.get("audio", "off")
    if audio not in ("native", "original", "off"):
        raise bad("settings.audio must be native, original or off")
    multi_shot = settings.get("multi_shot", True)
    if not isinstance(multi_shot, bool):
        raise bad("settings.multi_shot must be a boolean")
    external_id = _external(options)
    callback = options.get("callback_url")

    prompt = ""
    items: dict[str, list[dict[str, Any]]] = {}
    if kind == "text-to-video":
        prompt = body.get("prompt") or ""
        if not isinstance(prompt, str) or not prompt.strip():
            raise bad("prompt is required")
        if audio == "original":
            raise bad("settings.audio must be native or off")
    else:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise bad("contents is required")
        for item in contents:
            if not isinstance(item, dict) or "type" not in item:
                raise bad("each contents item needs a type")
            items.setdefault(str(item["type"]), []).append(item)
        unknown = set(items) - {"prompt", "base_video", "feature_video", "refer_image",
                                "first_frame", "last_frame", "element"}
        if unknown:
            raise bad(f"unknown contents type {sorted(unknown)[0]}")
        prompts = items.get("prompt", [])
        if len(prompts) > 1:
            raise bad("only one prompt item is allowed")
        prompt = str(prompts[0].get("text", "")) if prompts else ""
    if len(prompt) > 3072:
        raise bad("prompt must be at most 3072 characters")

    _check_ids(prompt, contents_of(items))
    for element in items.get("element", []):
        eid = element.get("element_id")
        if not isinstance(eid, str) or not eid.strip():
            raise bad("element needs an element_id")
        if elements is not None and elements and eid not in elements:
            raise bad(f"element_id {eid} not found")

    videos = items.get("base_video", []) + items.get("feature_video", [])
    if len(videos) > 1:
        raise bad("only one video per task")
    base = items.get("base_video", [])
    feature = items.get("feature_video", [])
    frames = items.get("first_frame", []) + items.get("last_frame", [])
    if kind == "image-to-video":
        if not items.get("first_frame"):
            raise bad("first_frame is required")
        if aspect is not None:
            raise bad("aspect_ratio is not accepted by image-to-video (the image decides)")
        if len(items.get("element", [])) > 3:
            raise bad("at most 3 elements")
        if videos or items.get("refer_image"):
            raise bad("image-to-video takes frames, a prompt and elements only")
    if kind == "omni-video" and not prompt.strip():
        raise bad("a prompt item is required")
    if base:
        if frames:
            raise bad("base_video cannot be combined with first_frame or last_frame")
        if multi_shot is not False:
            raise bad("settings.multi_shot must be false with a base_video")
        if audio not in ("original", "off"):
            raise bad("settings.audio must be original or off with a base_video")
        if "duration" in settings:
            raise bad("duration is not accepted with a base_video (the input decides)")
    elif audio == "original":
        raise bad("settings.audio original needs a base_video")
    if feature and audio != "off":
        raise bad("settings.audio must be off with a feature_video")

    for video in videos:
        url = video.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise bad("video url must be an http(s) URL")
    video_path: Path | None = None
    video_probe: Probe | None = None
    if videos:
        video_path, video_probe = await fetch(str(videos[0]["url"]), "video", True)
        _check_video(video_probe, model)
    image_paths: dict[str, Path] = {}
    for itype in ("first_frame", "last_frame", "refer_image"):
        for item in items.get(itype, []):
            ref = item.get("url")
            if not isinstance(ref, str) or not ref:
                raise bad(f"{itype} needs a url (URL or base64)")
            path, p = await fetch(ref, "image", False)
            _check_image(p, 50)
            image_paths.setdefault(itype, path)

    if base:
        assert video_probe is not None
        seconds = video_probe.duration
        spec = RenderSpec("edit", seconds, video=video_path, keep_audio=audio == "original")
        units = price(model, "video", resolution, seconds)
        return Plan(spec, units, external_id, callback)
    duration = _int_duration(settings.get("duration", 5), as_string=False)
    shots = [(int(d), w.strip()) for _, d, w in SHOT_RE.findall(prompt)]
    if shots:
        _check_shots(shots, duration)
    first = image_paths.get("first_frame")
    spec = RenderSpec("i2v" if first else "t2v", float(duration), image=first,
                      native_audio=audio == "native", aspect_ratio=aspect or "16:9")
    if model in NEW_OMNI_MODELS:
        variant = "video" if videos else "novideo"
    else:
        variant = "native" if audio == "native" else "silent"
    return Plan(spec, price(model, variant, resolution, duration), external_id, callback)


# --------------------------------------------------------------------------- legacy


def _legacy_b64(ref: str) -> None:
    if ref.startswith("data:"):
        raise bad("base64 images must not carry a data: prefix")


async def check_legacy(endpoint: str, body: dict[str, Any], fetch: Fetch) -> Plan:
    """``endpoint``: omni-video | text2video | image2video."""
    names = LEGACY_MODELS[endpoint]
    model_name = body.get("model_name")
    if model_name not in names:
        raise KlingError(404, 1203, f"model_name {model_name} not found for {endpoint}")
    model = names[str(model_name)]
    prompt = body.get("prompt") or ""
    if not isinstance(prompt, str) or len(prompt) > 2500:
        raise bad("prompt must be a string of at most 2500 characters")
    if len(str(body.get("negative_prompt") or "")) > 2500:
        raise bad("negative_prompt must be at most 2500 characters")
    mode = body.get("mode", "std")
    if mode not in MODES:
        raise bad("mode must be std, pro or 4k")
    resolution = MODES[str(mode)]
    sound = body.get("sound", "off")
    if sound not in ("on", "off"):
        raise bad("sound must be on or off")
    aspect = body.get("aspect_ratio")
    if aspect is not None and aspect not in ASPECTS:
        raise bad("aspect_ratio must be 16:9, 9:16 or 1:1")
    multi_shot = body.get("multi_shot", False)
    external_id = _external(body)
    callback = body.get("callback_url")

    videos = body.get("video_list") or []
    images = body.get("image_list") or []
    if endpoint != "omni-video" and (videos or images):
        raise bad("video_list and image_list belong to omni-video")
    if len(videos) > 1:
        raise bad("only one video per task")
    base = [v for v in videos if v.get("refer_type") == "base"]
    for v in videos:
        if v.get("refer_type") not in ("base", "feature"):
            raise bad("video_list.refer_type must be base or feature")
        if v.get("keep_original_sound", "no") not in ("yes", "no"):
            raise bad("video_list.keep_original_sound must be yes or no")
        url = v.get("video_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise bad("video_url must be an http(s) URL")
        if v["refer_type"] == "feature" and (
            v.get("keep_original_sound") == "yes" or sound == "on"
        ):
            raise bad("sound must be off with a feature video")
    frame_types = [i.get("type") for i in images if i.get("type")]
    for t in frame_types:
        if t not in ("first_frame", "end_frame"):
            raise bad("image_list.type must be first_frame or end_frame")
    if base:
        if frame_types:
            raise bad("a base video cannot be combined with first_frame or end_frame")
        if multi_shot:
            raise bad("multi_shot must be false with a base video")
        if sound == "on":
            raise bad("sound cannot be on with a base video; use keep_original_sound")
        if "duration" in body:
            raise bad("duration is not accepted with a base video (the input decides)")
        if not prompt.strip():
            raise bad("prompt is required")

    video_path: Path | None = None
    video_probe: Probe | None = None
    if videos:
        video_path, video_probe = await fetch(str(videos[0]["video_url"]), "video", True)
        _check_video(video_probe, model)
    image_refs: dict[str, str] = {}
    for item in images:
        ref = item.get("image_url")
        if not isinstance(ref, str) or not ref:
            raise bad("image_list.image_url is required")
        image_refs.setdefault(str(item.get("type") or "refer"), ref)
    if endpoint == "image2video":
        if not body.get("image"):
            raise bad("image is required")
        image_refs["first_frame"] = str(body["image"])
        if body.get("image_tail"):
            image_refs["end_frame"] = str(body["image_tail"])
    image_paths: dict[str, Path] = {}
    for key, ref in image_refs.items():
        _legacy_b64(ref)
        path, p = await fetch(ref, "image", False)
        _check_image(p, 10)
        image_paths[key] = path

    if base:
        assert video_probe is not None
        keep = base[0].get("keep_original_sound") == "yes"
        spec = RenderSpec("edit", video_probe.duration, video=video_path, keep_audio=keep)
        return Plan(spec, price(model, "video", resolution, video_probe.duration), external_id,
                    callback)
    duration = _int_duration(body.get("duration", "5"), as_string=True)
    if multi_shot:
        shots_raw = body.get("multi_prompt")
        if not isinstance(shots_raw, list) or not shots_raw:
            raise bad("multi_prompt is required when multi_shot is true")
        shots = []
        for s in shots_raw:
            try:
                shots.append((int(s["duration"]), str(s["prompt"])))
            except (KeyError, TypeError, ValueError):
                raise bad("multi_prompt items need index, prompt and duration") from None
        _check_shots(shots, duration)
    elif endpoint == "text2video" and not prompt.strip():
        raise bad("prompt is required")
    first = image_paths.get("first_frame")
    spec = RenderSpec("i2v" if first else "t2v", float(duration), image=first,
                      native_audio=sound == "on", aspect_ratio=aspect or "16:9")
    if model in NEW_OMNI_MODELS:
        variant = "video" if videos else "novideo"
    else:
        variant = "native" if sound == "on" else "silent"
    return Plan(spec, price(model, variant, resolution, duration), external_id, callback)


SOUND_FORMATS = ("mp3", "wav", "aac", "mov")  # m4a is ffprobe's "mov,mp4,m4a,..."


async def check_lipsync(body: dict[str, Any], session: Any, fetch: Fetch) -> Plan:
    """``advanced-lip-sync``: a live identify-face session, one face, a 2-60 s sound."""
    faces = body.get("face_choose")
    if not isinstance(faces, list) or len(faces) != 1 or not isinstance(faces[0], dict):
        raise bad("face_choose must hold one face")
    face = faces[0]
    if str(face.get("face_id")) not in session.faces:
        raise bad("face_id is not in this session")
    ref = face.get("sound_file")
    if not isinstance(ref, str) or not ref:
        raise bad("sound_file is required (URL or base64)")
    _legacy_b64(ref)
    path, p = await fetch(ref, "sound", False)
    if not p.audio_codec or p.has_video or not any(f in p.format_name for f in SOUND_FORMATS):
        raise bad("sound_file must be mp3, wav, m4a or aac")
    if p.size > 5 * 1024 * 1024:
        raise bad("sound_file exceeds 5MB")
    if not 2.0 <= p.duration <= 60.0:
        raise bad("sound_file must last 2 to 60 seconds")
    try:
        start = int(face.get("sound_start_time", 0))
        end = int(face.get("sound_end_time", round(p.duration * 1000)))
        insert = int(face.get("sound_insert_time", 0))
    except (TypeError, ValueError):
        raise bad("sound times must be integers (milliseconds)") from None
    if not 0 <= start < end <= p.duration * 1000 + 50 or insert < 0:
        raise bad("sound_start_time/sound_end_time must lie within the sound file")
    if end - start < 2000:
        raise bad("the lip-synced sound must last at least 2 seconds")
    units = lipsync_units((end - start) / 1000)
    if not session.used:
        units += FACE_DETECTION_UNITS
    spec = RenderSpec("lipsync", session.video_seconds, video=session.video, sound=path,
                      sound_range=(start / 1000, end / 1000), sound_insert=insert / 1000)
    return Plan(spec, round(units, 4), _external(body), body.get("callback_url"))
