"""A :class:`~.base.TaskRequest` as JSON and back (paths as strings, enums as values).

The draft provider keeps each task's request on disk this way, so a restarted daemon
renders exactly what was asked; a round trip gives back an equal request.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..specs import Shot
from .base import AudioMode, Operation, Resolution, TaskRequest

_PATH_FIELDS = ("video", "image", "end_image", "reference_image", "audio", "feature_video")
_PATH_TUPLES = ("refer_images", "element_stills")

def request_to_dict(request: TaskRequest) -> dict[str, Any]:
    """JSON-ready form of a request (paths as strings, enums as values)."""
    data = asdict(request)
    for key in _PATH_FIELDS:
        if data[key] is not None:
            data[key] = str(data[key])
    data["operation"] = request.operation.value
    data["resolution"] = request.resolution.value
    data["audio_mode"] = request.audio_mode.value
    data["audio_range"] = list(request.audio_range) if request.audio_range else None
    for key in _PATH_TUPLES:
        data[key] = [str(p) for p in getattr(request, key)]
    return data


def request_from_dict(data: dict[str, Any]) -> TaskRequest:
    d = dict(data)
    for key in _PATH_FIELDS:
        if d.get(key) is not None:
            d[key] = Path(d[key])
    d["operation"] = Operation(d["operation"])
    d["resolution"] = Resolution(d["resolution"])
    d["audio_mode"] = AudioMode(d["audio_mode"])
    d["shots"] = tuple(Shot(**s) for s in d.get("shots") or ())
    for key in _PATH_TUPLES:
        d[key] = tuple(Path(p) for p in d.get(key) or ())
    for key in ("elements", "labels"):
        d[key] = tuple(d.get(key) or ())
    if d.get("audio_range") is not None:
        d["audio_range"] = (float(d["audio_range"][0]), float(d["audio_range"][1]))
    return TaskRequest(**d)
