"""The new standard's requests and answers, as pure functions over plain data.

Paths carry the model (``/omni-video/kling-3.0-omni``), the body is
``contents``/``settings``/``options``, and tasks are queried in batches through
``GET /tasks``. Nothing here does I/O: the client sends what these functions build.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..base import AudioMode, Operation, TaskOutput, TaskPhase, TaskRequest, TaskStatus
from .pricing import billed_from_standard
from .wire import (
    FEATURE_ID,
    IMAGE_ID,
    VIDEO_ID,
    Inputs,
    edit_prompt,
    element_id_of,
    is_omni,
    multi_shot_prompt,
    number_or_none,
    refer_image_id,
    reference_prompt,
    task_phase,
    with_negative,
)

#: ``GET /tasks`` takes at most this many ids per call *(observed)*.
MAX_IDS_PER_QUERY = 20

def create_path(request: TaskRequest) -> str:
    if request.operation is Operation.LIPSYNC:
        raise ValueError("lip-sync has no new-standard endpoint; it uses the legacy tree")
    if request.operation is Operation.EDIT or is_omni(request.model):
        return f"/omni-video/{request.model}"
    if request.operation is Operation.IMAGE_TO_VIDEO:
        return f"/image-to-video/{request.model}"
    return f"/text-to-video/{request.model}"


def _prompt_text(request: TaskRequest) -> str:
    if request.operation is Operation.EDIT:
        text = edit_prompt(request.prompt, request.reference_image is not None)
    else:
        text = " ".join(request.prompt.split())
        if _has_references(request):
            text = reference_prompt(
                text, feature=request.feature_mode if request.feature_video else None,
                refer_images=len(request.refer_images), elements=len(request.elements),
                labels=request.labels, style_image=request.reference_image is not None)
        if request.shots:
            text = multi_shot_prompt(text, request.shots)
    return with_negative(text, request.negative_prompt)


def _has_references(request: TaskRequest) -> bool:
    return bool(request.feature_video or request.refer_images or request.elements
                or (request.reference_image is not None and is_omni(request.model)))


def _settings(request: TaskRequest) -> dict[str, Any]:
    settings: dict[str, Any] = {"resolution": request.resolution.value}
    if request.operation is Operation.EDIT:
        # A base video fixes length, framing and cuts: no duration, no aspect, one shot.
        settings["multi_shot"] = False
        settings["audio"] = (
            AudioMode.ORIGINAL.value
            if request.audio_mode is AudioMode.ORIGINAL
            else AudioMode.OFF.value
        )
        return settings
    settings["multi_shot"] = bool(request.shots)
    settings["audio"] = (
        AudioMode.NATIVE.value if request.audio_mode is AudioMode.NATIVE else AudioMode.OFF.value
    )
    settings["duration"] = int(request.output_seconds)
    if request.operation is Operation.TEXT_TO_VIDEO and request.aspect_ratio:
        settings["aspect_ratio"] = request.aspect_ratio  # image-to-video: the image decides
    return settings


def _options(external_id: str, callback_url: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {"external_task_id": external_id}
    if callback_url:
        options["callback_url"] = callback_url  # only here: a top-level one is ignored
    return options


def _contents(request: TaskRequest, inputs: Inputs) -> list[dict[str, Any]]:
    contents: list[dict[str, Any]] = []
    text = _prompt_text(request)
    if text:
        contents.append({"type": "prompt", "text": text})
    if request.operation is Operation.EDIT:
        contents.append({"type": "base_video", "url": inputs.video, "id": VIDEO_ID})
        if request.reference_image is not None and inputs.reference_image:
            contents.append({"type": "refer_image", "url": inputs.reference_image, "id": IMAGE_ID})
        return contents
    if inputs.image:
        contents.append({"type": "first_frame", "url": inputs.image, "id": IMAGE_ID})
    if inputs.end_image:
        contents.append({"type": "last_frame", "url": inputs.end_image, "id": "image_2"})
    if request.reference_image is not None and inputs.reference_image and is_omni(request.model):
        contents.append({"type": "refer_image", "url": inputs.reference_image, "id": "image_3"})
    if inputs.feature_video:
        # "next shot" or style reference; Kling wants the sound off with it (settings)
        contents.append({"type": "feature_video", "url": inputs.feature_video, "id": FEATURE_ID})
    for n, still in enumerate(inputs.refer_images):
        contents.append({"type": "refer_image", "url": still, "id": refer_image_id(n)})
    for n, element in enumerate(request.elements):
        contents.append({"type": "element", "element_id": element, "id": element_id_of(n)})
    return contents


def build_create(
    request: TaskRequest, external_id: str, inputs: Inputs, callback_url: str | None = None
) -> tuple[str, dict[str, Any]]:
    """``(path, body)`` of the paid create call."""
    path = create_path(request)
    body: dict[str, Any]
    if path.startswith("/text-to-video/"):
        body = {"prompt": _prompt_text(request)}
    else:
        body = {"contents": _contents(request, inputs)}
    body["settings"] = _settings(request)
    body["options"] = _options(external_id, callback_url)
    return path, body


def parse_created(data: Mapping[str, Any]) -> str:
    task_id = data.get("id")
    if not isinstance(task_id, str) or not task_id:
        raise ValueError("create answer has no task id")
    return task_id


def query_batches(ids: Sequence[str], *, by_external: bool) -> list[dict[str, str]]:
    """Query strings for ``GET /tasks``: one kind of id per call, ≤20 ids each."""
    key = "external_task_ids" if by_external else "task_ids"
    unique = list(dict.fromkeys(ids))
    return [
        {key: ",".join(unique[i : i + MAX_IDS_PER_QUERY])}
        for i in range(0, len(unique), MAX_IDS_PER_QUERY)
    ]


def parse_task(item: Mapping[str, Any]) -> TaskStatus:
    """One element of ``GET /tasks``' ``data`` list."""
    phase = task_phase(item.get("status", ""))
    outputs = tuple(
        TaskOutput(
            url=str(out["url"]),
            output_id=str(out.get("id", "")),
            duration=number_or_none(out.get("duration")),
            kind=str(out.get("type", "video")),
        )
        for out in item.get("outputs") or ()
        if isinstance(out, Mapping) and out.get("url")
    )
    return TaskStatus(
        task_id=str(item["id"]),
        external_id=item.get("external_id") or None,
        phase=phase,
        message=str(item.get("message") or "") if phase is TaskPhase.FAILED else "",
        outputs=outputs,
        billed=billed_from_standard(item.get("billing")),
    )
