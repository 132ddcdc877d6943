"""The legacy standard (``/v1/videos/...``), as pure functions over plain data.

Its quirks are kept here and nowhere else: ``model_name`` in the body, ``duration`` as a
string, ``mode`` std/pro/4k for the resolution, ``sound`` on/off, ``video_list`` /
``image_list`` for omni inputs, ``multi_prompt`` for shots, ``succeed`` (not ``succeeded``),
the failure reason in ``task_status_msg`` (the envelope still says "SUCCEED"), and one GET
per task on the endpoint that created it.

Because a legacy task can only be queried on its own endpoint, the task id handed to the
engine is ``"<endpoint>/<kling task id>"`` (see :func:`task_ref`); the engine treats it as
opaque, and :func:`split_ref` gets both back for polling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import AudioMode, Operation, TaskOutput, TaskPhase, TaskRequest, TaskStatus
from .pricing import billed_from_legacy
from .wire import (
    LEGACY_MODEL_NAMES,
    LEGACY_MODES,
    Inputs,
    edit_prompt,
    is_omni,
    number_or_none,
    reference_prompt,
    task_phase,
)

PREFIX = "/v1/videos"
TEXT2VIDEO = "text2video"
IMAGE2VIDEO = "image2video"
OMNI = "omni-video"
LIPSYNC = "advanced-lip-sync"
IDENTIFY_FACE = "identify-face"

#: Every endpoint a task of ours can live on: a look-up by external id after a crash (when
#: nothing says which one created it) asks each in turn.
TASK_ENDPOINTS = (OMNI, TEXT2VIDEO, IMAGE2VIDEO, LIPSYNC)

def endpoint_for(request: TaskRequest) -> str:
    if request.operation is Operation.LIPSYNC:
        return LIPSYNC
    if request.operation is Operation.EDIT or is_omni(request.model):
        return OMNI
    if request.operation is Operation.IMAGE_TO_VIDEO:
        return IMAGE2VIDEO
    return TEXT2VIDEO


def task_ref(endpoint: str, task_id: str) -> str:
    return f"{endpoint}/{task_id}"


def split_ref(ref: str) -> tuple[str, str]:
    endpoint, _, task_id = ref.partition("/")
    if not task_id or endpoint not in TASK_ENDPOINTS:
        raise ValueError(f"not a legacy task reference: {ref!r}")
    return endpoint, task_id


def is_ref(ref: str) -> bool:
    endpoint, sep, _ = ref.partition("/")
    return bool(sep) and endpoint in TASK_ENDPOINTS


def query_path(endpoint: str, task_or_external_id: str) -> str:
    return f"{PREFIX}/{endpoint}/{task_or_external_id}"


def build_create(
    request: TaskRequest, external_id: str, inputs: Inputs, callback_url: str | None = None
) -> tuple[str, dict[str, Any]]:
    """``(path, body)`` of the paid create call (lip-sync: see :func:`build_lipsync`)."""
    endpoint = endpoint_for(request)
    if endpoint == LIPSYNC:
        raise ValueError("lip-sync is created by build_lipsync after identify-face")
    body: dict[str, Any] = {
        "model_name": LEGACY_MODEL_NAMES[request.model],
        "mode": LEGACY_MODES[request.resolution],
        "external_task_id": external_id,
    }
    if request.negative_prompt.strip():
        body["negative_prompt"] = request.negative_prompt.strip()
    if callback_url:
        body["callback_url"] = callback_url
    if request.operation is Operation.EDIT:
        body["prompt"] = edit_prompt(request.prompt, request.reference_image is not None)
        body["multi_shot"] = False
        body["video_list"] = [
            {
                "video_url": inputs.video,
                "refer_type": "base",
                "keep_original_sound": "yes" if request.audio_mode is AudioMode.ORIGINAL else "no",
            }
        ]
        if request.reference_image is not None and inputs.reference_image:
            body["image_list"] = [{"image_url": inputs.reference_image}]
        return f"{PREFIX}/{endpoint}", body

    body["duration"] = str(int(request.output_seconds))  # a STRING on this standard
    body["sound"] = "on" if request.audio_mode is AudioMode.NATIVE else "off"
    if request.shots:
        body["multi_shot"] = True
        body["multi_prompt"] = [
            {"index": i, "prompt": " ".join(s.prompt.split()), "duration": str(s.duration)}
            for i, s in enumerate(request.shots, start=1)
        ]
    else:
        body["multi_shot"] = False
    words = " ".join(request.prompt.split())
    if endpoint == OMNI and (inputs.feature_video or inputs.refer_images
                             or inputs.reference_image):
        # The legacy body gives its inputs no ids: the prompt names them in words.
        words = reference_prompt(
            words, feature=request.feature_mode if inputs.feature_video else None,
            refer_images=len(inputs.refer_images), elements=0, labels=request.labels,
            named=False, style_image=bool(inputs.reference_image))
    if words:
        body["prompt"] = words
    if endpoint == OMNI:
        images = []
        if inputs.image:
            images.append({"image_url": inputs.image, "type": "first_frame"})
        if inputs.end_image:
            images.append({"image_url": inputs.end_image, "type": "end_frame"})
        if request.reference_image is not None and inputs.reference_image:
            images.append({"image_url": inputs.reference_image})
        images += [{"image_url": still} for still in inputs.refer_images]
        if images:
            body["image_list"] = images
        if inputs.feature_video:
            body["video_list"] = [{"video_url": inputs.feature_video, "refer_type": "feature",
                                   "keep_original_sound": "no"}]
    elif endpoint == IMAGE2VIDEO:
        body["image"] = inputs.image
        if inputs.end_image:
            body["image_tail"] = inputs.end_image
    if request.aspect_ratio and not inputs.image:
        body["aspect_ratio"] = request.aspect_ratio
    return f"{PREFIX}/{endpoint}", body


def build_identify_face(video_url: str) -> tuple[str, dict[str, Any]]:
    return f"{PREFIX}/{IDENTIFY_FACE}", {"video_url": video_url}


def parse_identify_face(data: Mapping[str, Any]) -> tuple[str, list[str]]:
    """``(session_id, face ids)``; no face found is the caller's clear error."""
    session = data.get("session_id")
    if not isinstance(session, str) or not session:
        raise ValueError("identify-face answer has no session_id")
    faces = [str(f["face_id"]) for f in data.get("face_data") or () if "face_id" in f]
    return session, faces


def build_lipsync(
    *,
    session_id: str,
    face_id: str,
    sound: str,
    sound_seconds: float,
    external_id: str,
    callback_url: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The paid lip-sync create: the whole ``sound`` goes in at the start of the video."""
    body: dict[str, Any] = {
        "session_id": session_id,
        "face_choose": [
            {
                "face_id": face_id,
                "sound_file": sound,
                "sound_start_time": 0,
                "sound_end_time": round(sound_seconds * 1000),
                "sound_insert_time": 0,
            }
        ],
        "external_task_id": external_id,
    }
    if callback_url:
        body["callback_url"] = callback_url
    return f"{PREFIX}/{LIPSYNC}", body


def parse_created(data: Mapping[str, Any], endpoint: str) -> str:
    task_id = data.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise ValueError("create answer has no task_id")
    return task_ref(endpoint, task_id)


def parse_task(data: Mapping[str, Any], endpoint: str) -> TaskStatus:
    """A legacy query answer's ``data``; ``succeed`` becomes ``succeeded``."""
    phase = task_phase(data.get("task_status", ""))
    result = data.get("task_result") or {}
    videos = result.get("videos") or () if isinstance(result, Mapping) else ()
    outputs = tuple(
        TaskOutput(
            url=str(v["url"]),
            output_id=str(v.get("id", "")),
            duration=number_or_none(v.get("duration")),
        )
        for v in videos
        if isinstance(v, Mapping) and v.get("url")
    )
    info = data.get("task_info") or {}
    external = info.get("external_task_id") if isinstance(info, Mapping) else None
    return TaskStatus(
        task_id=task_ref(endpoint, str(data["task_id"])),
        external_id=str(external) if external else None,
        phase=phase,
        message=str(data.get("task_status_msg") or "") if phase is TaskPhase.FAILED else "",
        outputs=outputs,
        billed=billed_from_legacy(data.get("final_unit_deduction")),
    )
