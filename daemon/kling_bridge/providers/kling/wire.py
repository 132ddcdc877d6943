"""What both of Kling's wire formats share: model names, inputs as sent, multi-shot text.

Pure data and pure functions; :mod:`.standard` and :mod:`.legacy` build on these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...specs import Shot
from ..base import Resolution, TaskPhase

#: Task status words of both standards (the legacy one says ``succeed``).
_PHASES = {
    "submitted": TaskPhase.SUBMITTED,
    "processing": TaskPhase.PROCESSING,
    "succeeded": TaskPhase.SUCCEEDED,
    "succeed": TaskPhase.SUCCEEDED,
    "failed": TaskPhase.FAILED,
}


def task_phase(status: Any) -> TaskPhase:
    """A task status word of either standard, or ValueError for one Kling never sends."""
    word = str(status).lower()
    phase = _PHASES.get(word)
    if phase is None:
        raise ValueError(f"unknown task status {word!r}")
    return phase


def number_or_none(value: Any) -> float | None:
    """An answer's numeric field (durations, units), or None where it is absent or odd."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


#: New-standard model (in the path) -> legacy ``model_name`` (kling-api.md, "Names").
#: ``kling-3.0-turbo`` has no legacy name: it exists only on the new standard.
LEGACY_MODEL_NAMES: dict[str, str] = {
    "kling-3.0-omni": "kling-v3-omni",
    "kling-o1": "kling-video-o1",
    "kling-3.0": "kling-v3",
}

OMNI_MODELS = frozenset({"kling-3.0-omni", "kling-o1"})
GENERATION_MODELS = frozenset({"kling-3.0", "kling-3.0-turbo"})
KNOWN_MODELS = OMNI_MODELS | GENERATION_MODELS

LEGACY_MODES: dict[Resolution, str] = {
    Resolution.R720: "std",
    Resolution.R1080: "pro",
    Resolution.R4K: "4k",
}

#: How the prompt names the inputs of an omni task (kling-api.md: ``@video_1``, ``@image_1``).
VIDEO_ID = "video_1"
IMAGE_ID = "image_1"


@dataclass(frozen=True)
class Inputs:
    """Media as Kling receives it: a URL (hosted) or raw base64 (images/sound, no prefix)."""

    video: str | None = None
    image: str | None = None
    end_image: str | None = None
    reference_image: str | None = None
    sound: str | None = None
    feature_video: str | None = None  # URL only, like every video Kling takes
    refer_images: tuple[str, ...] = ()

    def __repr__(self) -> str:  # base64 blobs and signed URLs do not belong in logs
        present = [k for k in ("video", "image", "end_image", "reference_image", "sound",
                               "feature_video", "refer_images") if getattr(self, k)]
        return f"Inputs({', '.join(present)})"


def is_omni(model: str) -> bool:
    return model in OMNI_MODELS


def shot_text(shot: Shot) -> str:
    """A shot's words, made safe for the ``shot N, D, words;`` grammar (no ``;`` inside)."""
    return " ".join(shot.prompt.replace(";", ",").split())


def multi_shot_prompt(prompt: str, shots: Sequence[Shot]) -> str:
    """New-standard multi-shot: ``shot 1, 3, words; shot 2, 4, words;`` after any lead text."""
    parts = [f"shot {i}, {s.duration}, {shot_text(s)};" for i, s in enumerate(shots, start=1)]
    lead = " ".join(prompt.split())
    return " ".join([lead, *parts]) if lead else " ".join(parts)


def with_negative(prompt: str, negative: str) -> str:
    """The new standard has no ``negative_prompt`` field: say it in words instead of
    silently dropping what the user asked to avoid."""
    negative = negative.strip()
    return f"{prompt.rstrip()} Avoid: {negative}." if negative else prompt


def edit_prompt(prompt: str, has_reference: bool) -> str:
    """An edit's prompt must point at its base video; a look reference at its image."""
    text = prompt.strip()
    if f"@{VIDEO_ID}" not in text:
        text = f"Restyle @{VIDEO_ID}: {text}"
    if has_reference and f"@{IMAGE_ID}" not in text:
        text = f"{text} Match the look of @{IMAGE_ID}."
    return text


#: Ids of a generation's references in ``contents`` and in its prompt: the feature video is
#: ``@video_1``; frames take ``image_1``/``image_2`` (and an older single reference
#: ``image_3``), so reference stills count from 4.
FEATURE_ID = VIDEO_ID
FIRST_REFER_IMAGE = 4


def refer_image_id(n: int) -> str:
    """The id of the ``n``-th reference still (0-based) of a generation."""
    return f"image_{FIRST_REFER_IMAGE + n}"


def element_id_of(n: int) -> str:
    return f"element_{n + 1}"


#: A generation's single style still (a frame of a restyled clip: "more like this" by frame).
STYLE_IMAGE_ID = "image_3"


def reference_prompt(prompt: str, *, feature: str | None, refer_images: int,
                     elements: int, labels: Sequence[str] = (), named: bool = True,
                     style_image: bool = False) -> str:
    """A generation's words with its references named the way the prompt refers to inputs
    (kling-api.md: ``@video_1``, ``@image_1``): the feature video as the look to follow or
    the shot to continue, the stills and elements as who must appear, consistently. The
    legacy body gives its inputs no ids (``named=False``): they are named in words."""
    text = " ".join(prompt.split())
    video = f"@{FEATURE_ID}" if named else "the reference video"
    if feature == "next_shot":
        text = f"The next shot after {video}, continuing it: {text}".rstrip(": ")
    elif feature is not None:
        text = f"In the look and style of {video}: {text}".rstrip(": ")
    elif style_image:
        image = f"@{STYLE_IMAGE_ID}" if named else "the reference image"
        text = f"In the look and style of {image}: {text}".rstrip(": ")
    if named:
        who = [f"@{refer_image_id(n)}" for n in range(refer_images)]
        who += [f"@{element_id_of(n)}" for n in range(elements)]
    else:
        who = ["the reference images"] if refer_images or elements else []
    if who:
        named_ones = [n for n in dict.fromkeys(labels) if n]
        names = f" ({', '.join(named_ones)})" if named_ones else ""
        text = f"{text} Keep the character{names} of {', '.join(who)} consistent.".strip()
    return text
