"""Every input rule of kling-api.md, checked before anything is paid (pure).

``check`` takes the request and the facts of its files and raises
``ProviderError(BAD_REQUEST)`` naming the file or field and what to do. The facts come from
:func:`kling_bridge.media.facts.header_facts`; keeping the rules pure lets tests cover every
limit without media.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from ...media.headers import MediaFacts
from ...specs import InputLimits
from ..base import AudioMode, Operation, Resolution, TaskRequest
from .errors import bad_request
from .wire import KNOWN_MODELS, LEGACY_MODEL_NAMES, is_omni

ASPECT_RATIOS = ("16:9", "9:16", "1:1")
VIDEO_EXTENSIONS = (".mp4", ".mov")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
IMAGE_CODECS = ("mjpeg", "png")


#: kling-api.md's numbers per standard, as the InputLimits the provider publishes (the
#: fitter plans against the same object, so there is one place each number lives).
NEW = InputLimits(prompt_max_chars=3072, image_max_bytes=50 * 1024 * 1024)
LEGACY = InputLimits(prompt_max_chars=2500, image_max_bytes=10 * 1024 * 1024)


def limits_for(standard: str, model: str) -> InputLimits:
    base = LEGACY if standard == "legacy" else NEW
    if model == "kling-o1":  # O1 takes 3-10 s and at most 2160 px a side
        return replace(base, video_max_seconds=10.0, side_max=2160)
    return base


def _name(path: Path) -> str:
    return f"'{path.name}'"


def check_video(facts: MediaFacts, limits: InputLimits, *, what: str = "clip") -> None:
    p = facts.path
    fits = "; the media pipeline should fit it (trim, scale, re-time) before sending"
    if p.suffix.lower() not in VIDEO_EXTENSIONS or not (
        "mp4" in facts.format_name or "mov" in facts.format_name
    ):
        raise bad_request(f"The {what} {_name(p)} is not an mp4/mov file",
                          hint="convert it to H.264 mp4" + fits)
    if not facts.has_video:
        raise bad_request(f"The {what} {_name(p)} has no video stream", hint="pick a video clip")
    if facts.size_bytes > limits.max_bytes:
        raise bad_request(f"The {what} {_name(p)} is {facts.size_bytes / 2**20:.0f} MB; Kling "
                          f"takes at most {limits.max_bytes // 2**20} MB",
                          hint="re-encode at a lower bitrate" + fits)
    if not limits.video_min_seconds <= facts.duration <= limits.video_max_seconds:
        raise bad_request(f"The {what} {_name(p)} lasts {facts.duration:.2f} s; Kling takes "
                          f"{limits.video_min_seconds:g}-{limits.video_max_seconds:g} s",
                          hint="split or pad it" + fits)
    w, h = facts.width, facts.height
    if min(w, h) < limits.side_min or max(w, h) > limits.side_max:
        raise bad_request(f"The {what} {_name(p)} is {w}x{h}; each side must be "
                          f"{limits.side_min}-{limits.side_max} px", hint="scale it" + fits)
    if w * h > limits.max_pixels:
        raise bad_request(f"The {what} {_name(p)} has {w * h} pixels; at most "
                          f"{limits.max_pixels}", hint="scale it down" + fits)
    if not 0.4 <= w / h <= 2.0:
        raise bad_request(f"The {what} {_name(p)} has aspect {w / h:.2f}; Kling takes 0.4-2",
                          hint="crop or pad it" + fits)
    if not 24.0 - 0.01 <= facts.fps <= 60.0 + 0.01:
        raise bad_request(f"The {what} {_name(p)} runs at {facts.fps:.3f} fps; Kling takes "
                          "24-60 fps", hint="re-time it" + fits)


def check_image(facts: MediaFacts, limits: InputLimits, *, what: str = "image") -> None:
    p = facts.path
    if facts.codec not in IMAGE_CODECS:
        raise bad_request(f"The {what} {_name(p)} is not a JPEG or PNG",
                          hint="export the frame as .jpg or .png")
    if facts.size_bytes > limits.image_max_bytes:
        raise bad_request(f"The {what} {_name(p)} is {facts.size_bytes / 2**20:.1f} MB; at most "
                          f"{limits.image_max_bytes // 2**20} MB", hint="save it as a JPEG")
    w, h = facts.width, facts.height
    if min(w, h) < 300:
        raise bad_request(f"The {what} {_name(p)} is {w}x{h}; each side must be at least 300 px",
                          hint="use a larger image")
    if not 1 / 2.5 - 1e-9 <= w / h <= 2.5 + 1e-9:
        raise bad_request(f"The {what} {_name(p)} has aspect {w / h:.2f}; Kling takes 1:2.5 to "
                          "2.5:1", hint="crop it")


def _facts(path: Path, facts: Mapping[Path, MediaFacts]) -> MediaFacts:
    found = facts.get(path)
    if found is None:
        raise bad_request(f"Input file not found: {path}", hint="check the path")
    return found


def _check_shots(request: TaskRequest, limits: InputLimits) -> None:
    shots = request.shots
    if not 1 <= len(shots) <= limits.max_shots:
        raise bad_request(f"A multi-shot generation has 1-{limits.max_shots} shots, "
                          f"not {len(shots)}", hint="merge or drop shots")
    for i, shot in enumerate(shots, start=1):
        if shot.duration < 1:
            raise bad_request(f"Shot {i} lasts {shot.duration} s; each shot needs at least 1 s")
        if len(shot.prompt) > limits.shot_prompt_max_chars:
            raise bad_request(f"Shot {i}'s words are {len(shot.prompt)} characters; at most "
                              f"{limits.shot_prompt_max_chars}", hint="shorten the shot's prompt")
    total = sum(s.duration for s in shots)
    if request.duration is not None and request.duration != total:
        raise bad_request(f"Shot durations sum to {total} s but the duration is "
                          f"{request.duration} s", hint="make the shots add up to the total")


def check(request: TaskRequest, standard: str, facts: Mapping[Path, MediaFacts]) -> None:
    """Raise ``ProviderError(BAD_REQUEST)`` for the first rule ``request`` breaks."""
    op = request.operation
    limits = limits_for(standard, request.model)
    if op is not Operation.LIPSYNC:
        if request.model not in KNOWN_MODELS:
            raise bad_request(f"Unknown Kling model {request.model!r}",
                              hint="use one of: " + ", ".join(sorted(KNOWN_MODELS)))
        if standard == "legacy" and request.model not in LEGACY_MODEL_NAMES:
            raise bad_request(f"{request.model} is only offered on the new API standard",
                              hint="log in with an API key, or choose kling-3.0")
        if request.model == "kling-3.0-turbo" and request.resolution is Resolution.R4K:
            raise bad_request("kling-3.0-turbo does not render 4K", hint="pick 720p or 1080p")
        if len(request.prompt) > limits.prompt_max_chars:
            raise bad_request(f"The prompt is {len(request.prompt)} characters; Kling takes at "
                              f"most {limits.prompt_max_chars}", hint="shorten it")
    if request.aspect_ratio is not None and request.aspect_ratio not in ASPECT_RATIOS:
        raise bad_request(f"Aspect ratio {request.aspect_ratio!r} is not offered",
                          hint="use 16:9, 9:16 or 1:1")

    if op is Operation.EDIT:
        if not is_omni(request.model):
            raise bad_request(f"{request.model} cannot edit a video",
                              hint="restyles need an omni model (kling-3.0-omni)")
        if request.video is None:
            raise bad_request("A restyle needs its source clip", hint="select a video clip")
        if request.image is not None or request.end_image is not None:
            raise bad_request("An edit of a video cannot also take a first or last frame",
                              hint="use a reference image instead")
        if request.audio_mode is AudioMode.NATIVE:
            raise bad_request("An edit keeps or drops the clip's own sound; it cannot make new "
                              "sound", hint="choose original or off")
        if request.shots:
            raise bad_request("An edit follows its clip's cuts; it takes no shots")
        if not request.prompt.strip():
            raise bad_request("A restyle needs words", hint="choose a preset or write a prompt")
        check_video(_facts(request.video, facts), limits)
        if request.reference_image is not None:
            check_image(_facts(request.reference_image, facts), limits, what="reference image")
        return

    if op is Operation.LIPSYNC:
        if request.video is None and request.image is None:
            raise bad_request("Lip-sync needs a video or an image of the face",
                              hint="select a clip or a still")
        if request.audio is None:
            raise bad_request("Lip-sync needs the dialogue audio", hint="select an audio range")
        if request.video is not None:
            video = _facts(request.video, facts)
            if not video.has_video:
                raise bad_request(f"'{request.video.name}' has no video stream")
        else:
            assert request.image is not None
            check_image(_facts(request.image, facts), limits)
        audio = _facts(request.audio, facts)
        if not audio.has_audio:
            raise bad_request(f"'{request.audio.name}' has no audio stream",
                              hint="pick the dialogue clip")
        start, end = request.audio_range or (0.0, audio.duration)
        if start < 0 or end > audio.duration + 0.05 or end <= start:
            raise bad_request(f"Audio range {start:.2f}-{end:.2f} s lies outside "
                              f"'{request.audio.name}' ({audio.duration:.2f} s)")
        if not 2.0 <= end - start <= 60.0:
            raise bad_request(f"The dialogue lasts {end - start:.2f} s; lip-sync takes 2-60 s",
                              hint="pick a shorter or longer audio range")
        return

    # Generation (text or image to video, single or multi-shot).
    _check_references(request, standard, limits, facts)
    if request.audio_mode is AudioMode.ORIGINAL:
        raise bad_request("Original sound needs a source clip; a generation makes native "
                          "sound or none", hint="choose native or off")
    if request.shots:
        _check_shots(request, limits)
    total = request.output_seconds
    if request.duration is None and not request.shots:
        raise bad_request("A generation needs a duration", hint="set 3-15 seconds")
    if not (3 <= total <= 15 and float(total).is_integer()):
        raise bad_request(f"A generation lasts 3-15 whole seconds, not {total:g}",
                          hint="set the duration (or shot lengths) to 3-15 s")
    if op is Operation.TEXT_TO_VIDEO and not (request.prompt.strip() or request.shots):
        raise bad_request("Text-to-video needs a prompt", hint="describe the shot")
    if op is Operation.IMAGE_TO_VIDEO and request.image is None:
        raise bad_request("Image-to-video needs a first frame",
                          hint="pick an image or a timeline frame")
    for path, what in ((request.image, "first frame"), (request.end_image, "last frame"),
                       (request.reference_image, "reference image")):
        if path is not None:
            check_image(_facts(path, facts), limits, what=what)
    for path in request.refer_images:
        check_image(_facts(path, facts), limits, what="character still")


#: Elements an image-to-video task takes (kling-api.md: "up to 3 elements").
MAX_ELEMENTS = 3


def _check_references(request: TaskRequest, standard: str, limits: InputLimits,
                      facts: Mapping[Path, MediaFacts]) -> None:
    """A generation's omni references (kling-api.md, new standard ``contents``): a
    ``feature_video`` (URL only, one video per task, sound off), ``refer_image`` stills,
    ``element`` ids (up to 3 with image-to-video); only the omni endpoint takes a video or
    a still reference, and the legacy standard documents no element input."""
    omni = is_omni(request.model)
    if (request.feature_video is not None or request.refer_images) and not omni:
        raise bad_request(f"{request.model} takes no reference clip or still",
                          hint="references go to the omni model (kling-3.0-omni)")
    if request.elements:
        if standard == "legacy":
            raise bad_request("The legacy API standard has no element input",
                              hint="the character's stills are sent as reference images "
                              "instead; or log in with an API key")
        if not omni and request.operation is not Operation.IMAGE_TO_VIDEO:
            raise bad_request(f"{request.model} takes elements only with a first frame",
                              hint="use the omni model (kling-3.0-omni) for text to video")
        if len(request.elements) > MAX_ELEMENTS and not omni:
            raise bad_request(f"{len(request.elements)} elements: image to video takes at most "
                              f"{MAX_ELEMENTS}", hint="use fewer characters")
        if any(not e.strip() for e in request.elements):
            raise bad_request("An element id is empty", hint="check the character's element id")
    if request.feature_video is not None:
        if request.audio_mode is not AudioMode.OFF:
            raise bad_request("A generation with a reference clip (feature_video) must be "
                              "silent", hint="turn the audio off for this generation")
        check_video(_facts(request.feature_video, facts), limits, what="reference clip")
