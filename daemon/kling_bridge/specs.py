"""What a job asks for, as plain data stored in its row (JSON) and shared by every layer.

This module sits at the bottom of the package (it imports nothing of ours), so timeline,
media, providers and jobs can all speak it without importing each other.

The API and the timeline code produce these; the media pipeline consumes them. Frames and
rational rates, never float seconds, so a restyled clip lands back exactly over its source.
Specs hold paths and settings only -- never a credential.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class Shot:
    """One cut of a multi-shot generation: its words and whole seconds (>= 1)."""

    prompt: str
    duration: int


def rate_str(rate: Fraction) -> str:
    """``Fraction(24000, 1001)`` -> ``"24000/1001"`` (exact, JSON-safe)."""
    return f"{rate.numerator}/{rate.denominator}"


def parse_rate(value: str | int | float | Fraction) -> Fraction:
    """Read a rate written as ``"24000/1001"``, ``"25"`` or a number.

    Floats such as 23.976 snap to the NTSC rational they stand for.
    """
    if isinstance(value, Fraction):
        return value
    if isinstance(value, str):
        return Fraction(value)
    if isinstance(value, int):
        return Fraction(value)
    for ntsc in (24, 30, 48, 60, 120):
        if abs(value - ntsc * 1000 / 1001) < 0.005:
            return Fraction(ntsc * 1000, 1001)
    return Fraction(value).limit_denominator(1001)


@dataclass(frozen=True)
class InputLimits:
    """What a provider accepts, as plain data: providers publish it, the media fitter plans
    against it (it lives here, at the bottom, so media needs no provider import).

    Defaults are Kling's published limits (kling-api.md, "Input limits") with the stricter
    legacy-standard prompt and image sizes; the Kling provider publishes the ones of its
    standard (``providers.kling.rules.NEW`` / ``LEGACY``).
    """

    video_min_seconds: float = 3.0
    video_max_seconds: float = 15.5
    side_min: int = 700
    side_max: int = 4553
    max_pixels: int = 8_294_400
    aspect_min: float = 0.4
    aspect_max: float = 2.0
    fps_min: float = 24.0
    fps_max: float = 60.0
    max_bytes: int = 200 * 1024 * 1024
    containers: tuple[str, ...] = ("mp4", "mov")
    output_fps: Fraction = Fraction(24)
    image_side_min: int = 300
    image_aspect_min: float = 1 / 2.5
    image_aspect_max: float = 2.5
    image_max_bytes: int = 10 * 1024 * 1024
    generate_min_seconds: int = 3
    generate_max_seconds: int = 15
    max_shots: int = 6
    prompt_max_chars: int = 2500
    shot_prompt_max_chars: int = 512
    lipsync_audio_min_seconds: float = 2.0
    lipsync_audio_max_seconds: float = 60.0
    lipsync_audio_max_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True)
class ClipRef:
    """Where a source clip sits in the editor's timeline, so its result lands over it."""

    clip_id: str  # stable id within the submitted timeline (plugin's or ours)
    name: str = ""
    track_index: int = 0  # 0-based video track index
    track_name: str = ""
    record_start: int = 0  # timeline frame (at ``timeline_rate``) where the clip starts
    record_duration: int = 0
    timeline_rate: str = "24"


@dataclass(frozen=True)
class SourceRange:
    """The frames of a media file a restyle works on.

    ``start_frame`` counts from the file's first decoded frame (0), whatever its timecode;
    ``handle_before``/``handle_after`` are extra frames the editor's media holds around the
    range, usable to reach a provider's minimum length.
    """

    path: str
    start_frame: int
    frame_count: int
    rate: str  # exact media rate, "24000/1001"
    handle_before: int = 0
    handle_after: int = 0

    @property
    def fps(self) -> Fraction:
        return parse_rate(self.rate)

    @property
    def seconds(self) -> float:
        return float(self.frame_count / self.fps)


@dataclass(frozen=True)
class Look:
    """A preset id (data shipped with the package or the user's own) and/or free words."""

    preset: str | None = None
    prompt: str | None = None

    @property
    def label(self) -> str:
        return self.preset or "custom"


@dataclass(frozen=True)
class ConformTarget:
    """Timeline rate and geometry a generated clip should be conformed to, when asked.

    ``width``/``height`` 0 keep the provider's picture (a timeline file rarely says its
    frame size; editors fit a clip to the frame on import). ``frames`` cuts (or holds) the
    clip to exactly that many frames at ``rate`` -- B-roll that ends where its marker or
    cut ends; ``None`` keeps the clip's own length in time.
    """

    rate: str
    width: int
    height: int
    frames: int | None = None


@dataclass(frozen=True)
class RestyleSpec:
    source: SourceRange
    look: Look
    resolution: str = "1080p"
    variant: int = 0
    model: str = "kling-3.0-omni"
    keep_audio: bool = True
    reference_image: str | None = None
    clip: ClipRef | None = None


@dataclass(frozen=True)
class GenerateSpec:
    prompt: str = ""
    negative_prompt: str = ""
    image: str | None = None  # first frame: a still, or a frame grabbed from the timeline
    end_image: str | None = None
    shots: tuple[Shot, ...] = ()
    duration: int = 5
    aspect_ratio: str = "16:9"
    resolution: str = "1080p"
    audio: bool = False
    model: str = "kling-3.0"
    variant: int = 0
    conform: ConformTarget | None = None
    placement: ClipRef | None = None  # where the B-roll goes (marker, playhead or gap)
    # References (Kling's omni inputs). A clip whose look or motion to follow -- "more like
    # this" (``feature_mode`` "style") or the shot before this one ("next_shot") -- sent as
    # a ``feature_video`` (frames ``feature_start`` .. + ``feature_frames``; None: as much as
    # the provider takes from the right end of the clip).
    feature_video: str | None = None
    feature_mode: str = "style"
    feature_start: int = 0
    feature_frames: int | None = None
    # A look to follow as one picture ("more like this" by frame): a still, or a clip whose
    # middle frame is taken; sent as a ``refer_image``.
    style_image: str | None = None
    # Stills to keep consistent (a character's or product's), sent as ``refer_image``.
    # ``elements`` are provider element ids (Kling's ``element``), with ``element_stills``
    # the same characters' stills for providers or standards that take no element ids.
    # ``still_labels`` names the character of each still (refer_images, then
    # element_stills), for the prompt and for people.
    refer_images: tuple[str, ...] = ()
    elements: tuple[str, ...] = ()
    element_stills: tuple[str, ...] = ()
    still_labels: tuple[str, ...] = ()

    @property
    def has_references(self) -> bool:
        return bool(self.feature_video or self.style_image or self.refer_images
                    or self.elements)

    @property
    def characters(self) -> tuple[str, ...]:
        return tuple(n for n in dict.fromkeys(self.still_labels) if n)


@dataclass(frozen=True)
class LipsyncSpec:
    audio: str
    audio_start: float = 0.0
    audio_end: float | None = None
    video: str | None = None
    image: str | None = None
    resolution: str = "1080p"
    conform: ConformTarget | None = None
    placement: ClipRef | None = None


JobSpec = RestyleSpec | GenerateSpec | LipsyncSpec


def spec_to_dict(spec: JobSpec) -> dict[str, Any]:
    """JSON-ready dict; tuples become lists, nested specs become dicts."""
    return asdict(spec)


def _build(cls: type, data: dict[str, Any]) -> Any:
    nested: dict[str, type] = {
        "source": SourceRange,
        "look": Look,
        "clip": ClipRef,
        "placement": ClipRef,
        "conform": ConformTarget,
    }
    known = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            continue
        if key in nested and isinstance(value, dict):
            value = _build(nested[key], value)
        elif key == "shots":
            value = tuple(Shot(**s) if isinstance(s, dict) else s for s in value)
        elif isinstance(value, list):  # JSON arrays of plain values: tuples, as declared
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def spec_from_dict(kind: str, data: dict[str, Any]) -> JobSpec:
    """Inverse of :func:`spec_to_dict` for a job of ``kind`` (restyle/generate/lipsync)."""
    cls = {"restyle": RestyleSpec, "generate": GenerateSpec, "lipsync": LipsyncSpec}[kind]
    spec: JobSpec = _build(cls, data)
    return spec


@dataclass(frozen=True)
class OutputFile:
    """A file a finished job produced, with the facts a timeline edit needs."""

    path: str
    role: str  # "video" (the result clip), "poster", "thumbnail", "contact_sheet"
    frames: int | None = None
    rate: str | None = None
    width: int | None = None
    height: int | None = None
    has_audio: bool = False
    draft: bool = False


@dataclass(frozen=True)
class JobResult:
    outputs: tuple[OutputFile, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def video(self) -> OutputFile | None:
        return next((o for o in self.outputs if o.role == "video"), None)

    def to_dict(self) -> dict[str, Any]:
        return {"outputs": [asdict(o) for o in self.outputs], "metadata": dict(self.metadata)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> JobResult:
        return JobResult(
            outputs=tuple(OutputFile(**o) for o in data.get("outputs", [])),
            metadata=dict(data.get("metadata", {})),
        )
