"""The API's wire shapes (v1), validated at the edge with pydantic.

These models are the contract the host plugins, the watch folder and scripts share; the
OpenAPI document is generated from them, and a test checks real answers against it. Add
optional fields freely; never rename or remove one once a plugin uses it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .inputs import (
    CharacterName,
    ElementRef,
    IdempotencyKey,
    JobId,
    LocalPath,
    ModelName,
    Name,
    PresetId,
    ProjectName,
    Prompt,
    ProviderName,
    RangeEnd,
    Rate,
    SelectValue,
    ShotPrompt,
)

Resolution = Literal["720p", "1080p", "4k"]
Aspect = Literal["16:9", "9:16", "1:1"]
#: Formats a result timeline is written in (``GET /v1/batches/{id}/timeline?format=``).
TimelineFormat = Literal["otio", "otio_json", "fcp_xml", "fcpx_xml", "cmx_3600", "otioz", "AAF"]
#: Formats a timeline is read from (names and the aliases editors use; None: detected).
TimelineInFormat = Literal[
    "otio", "otio_json", "json", "otioz", "otiod", "fcp_xml", "xml", "premiere", "fcpx_xml",
    "fcpxml", "cmx_3600", "edl", "AAF", "aaf", "ale",
]

#: Most jobs one request may create (clips x looks x variants, plus marker B-roll): larger
#: batches are refused before anything is priced or stored; split them into several requests.
MAX_JOBS_PER_REQUEST = 1000
MAX_CLIPS = 500
MAX_LOOKS = 20
MAX_SELECT_VALUES = 100
MAX_CHARACTERS = 3  # Kling's image to video takes up to 3 elements: the same for every model
#: Deepest JSON nesting a body may have (OTIO timelines need about 15; metadata a few more).
MAX_JSON_DEPTH = 64


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------- errors


class ErrorBody(_Out):
    code: str
    message: str
    hint: str = ""


class ErrorAnswer(_Out):
    error: ErrorBody


# ---------------------------------------------------------------- requests


class LookIn(_In):
    preset: PresetId | None = None
    prompt: Prompt | None = Field(None, description="free words, added to the preset")


class ClipIn(_In):
    """A media file (range) to restyle without a timeline."""

    path: LocalPath = Field(..., description="absolute path of the media file")
    start_frame: int | None = Field(None, ge=0, le=10_000_000,
                                    description="first frame, 0 = file's first")
    frame_count: int | None = Field(None, ge=1, le=10_000_000,
                                    description="frames; default to the end")
    rate: Rate | None = Field(None, description="exact rate '24000/1001'; default: probed")
    name: Name | None = None


class SelectIn(_In):
    """How clips of a timeline are chosen (plugins mark clips; other editors choose here)."""

    mode: Literal["marked", "all", "color", "track", "range", "marker"] = "marked"
    values: list[SelectValue] = Field(default_factory=list, max_length=MAX_SELECT_VALUES,
                                      description="colours, track names, markers")
    range: tuple[RangeEnd, RangeEnd] | None = Field(
        None, description="record in/out: frames or timecode")
    handles: int = Field(12, ge=0, le=240, description="frames of handles each side")


class RestyleIn(_In):
    """Clips x looks x variants jobs (plus one per ``kling:`` marker): at most
    ``MAX_JOBS_PER_REQUEST`` (1000) per request."""

    timeline: dict[str, Any] | None = Field(None, description="OTIO JSON with clips marked")
    timeline_path: LocalPath | None = Field(None, description="a timeline file on this machine")
    timeline_format: TimelineInFormat | None = Field(None, description="default: detected")
    clips: list[ClipIn] = Field(default_factory=list, max_length=MAX_CLIPS)
    select: SelectIn = Field(default_factory=SelectIn)
    look: LookIn = Field(default_factory=LookIn)
    looks: list[LookIn] = Field(default_factory=list, max_length=MAX_LOOKS,
                                description="several looks at once")
    variants: int = Field(1, ge=1, le=8)
    resolution: Resolution = "1080p"
    keep_audio: bool = True
    reference_image: LocalPath | None = None
    provider: ProviderName | None = None
    model: ModelName | None = Field(None, description="default: kling.edit_model in the settings")
    dry_run: bool = Field(False, description="price it, create nothing")
    idempotency_key: IdempotencyKey | None = None
    more_like_this: BrollIn | None = Field(
        None, description="then B-roll in each restyled clip's look (a chain: each restyle, "
        "then a generation fed by its result)")
    apply_look: ApplyLookIn | None = Field(
        None, description="the look of an earlier restyle job (e.g. the one picked from a "
        "comparison), applied to these clips; instead of look/looks")


class BrollIn(_In):
    """B-roll that follows a restyled clip's look: its words plus the restyled clip as a
    reference (Kling's ``feature_video``, or one frame of it as a ``refer_image``)."""

    prompt: Prompt = Field("", description="what the B-roll shows (the look's words are "
                           "added)")
    duration: int = Field(5, ge=3, le=15, description="seconds")
    place: Literal["after", "gap", "markers"] = Field(
        "after", description="after the clip; in the gap after it on its track (cut to the "
        "gap); or at the timeline's kling: markers (each fed by the nearest restyled clip "
        "before it)")
    send_as: Literal["video", "frame"] = Field(
        "video", description="the restyled clip as a feature_video, or its middle frame as a "
        "refer_image")
    resolution: Resolution | None = Field(None, description="default: the restyle's")


class ApplyLookIn(_In):
    job_id: JobId = Field(..., description="a restyle job whose look (preset, words, "
                          "resolution, model, reference image) to use")
    to: Literal["rest", "all"] = Field(
        "rest", description="rest: leave out the clip that job restyled; all: every clip "
        "selected (the reference clip's job is served from the result cache)")


class ShotIn(_In):
    prompt: ShotPrompt
    duration: int = Field(..., ge=1, le=15)


class ConformIn(_In):
    rate: Rate
    width: int = Field(..., ge=16, le=16384)
    height: int = Field(..., ge=16, le=16384)


class PlacementIn(_In):
    record_start: int = Field(0, ge=0, le=1_000_000_000, description="timeline frame")
    track_index: int = Field(0, ge=0, le=1000)
    timeline_rate: Rate = "24"
    name: Name = ""


class GenerateIn(_In):
    prompt: Prompt = ""
    negative_prompt: Prompt = ""
    image: LocalPath | None = Field(None, description="first frame: a still image path")
    frame_of: ClipIn | None = Field(None, description="or a frame of a clip (start_frame)")
    end_image: LocalPath | None = None
    shots: list[ShotIn] = Field(default_factory=list, max_length=6)
    duration: int = Field(5, ge=3, le=15)
    aspect_ratio: Aspect = "16:9"
    resolution: Resolution = "1080p"
    audio: bool = False
    variants: int = Field(1, ge=1, le=8)
    conform: ConformIn | None = None
    placement: PlacementIn | None = None
    provider: ProviderName | None = None
    model: ModelName | None = Field(None,
                                    description="default: kling.generate_model in the settings "
                                    "(kling.edit_model, the omni model, with references)")
    dry_run: bool = False
    idempotency_key: IdempotencyKey | None = None
    then: list[LookIn] = Field(
        default_factory=list, max_length=MAX_LOOKS,
        description="then restyle each generated clip in these looks (a chain: only the "
        "restyled clips are placed)")
    reference: ReferenceIn | None = Field(
        None, description="a clip to follow: its look (more like this) or as the shot before "
        "(next shot)")
    characters: list[CharacterName] = Field(
        default_factory=list, max_length=MAX_CHARACTERS,
        description="characters or products registered in the project (GET /v1/elements)")
    project: ProjectName = Field("default", description="the project the characters are in")


class ReferenceIn(_In):
    """A clip a generation follows: a job's result (the generation waits for that job when
    it has not finished), or a media file (range)."""

    job_id: JobId | None = Field(None, description="a restyle or generate job")
    clip: ClipIn | None = Field(None, description="or a media file (range)")
    mode: Literal["style", "next_shot"] = Field(
        "style", description="style: new footage in its look (more like this); next_shot: "
        "the shot that follows it")
    send_as: Literal["video", "frame"] = Field(
        "video", description="as a feature_video, or one frame of it as a refer_image "
        "(style only)")


class LipsyncIn(_In):
    audio: LocalPath
    audio_start: float = Field(0.0, ge=0, le=86_400)
    audio_end: float | None = Field(None, gt=0, le=86_400)
    video: LocalPath | None = None
    image: LocalPath | None = None
    resolution: Resolution = "1080p"
    conform: ConformIn | None = None
    placement: PlacementIn | None = None
    provider: ProviderName | None = None
    dry_run: bool = False


class ExportIn(_In):
    """Where to deliver a batch: a folder the editor keeps (created if missing)."""

    folder: str = Field(..., min_length=1, description="absolute path of the folder")
    format: str | None = Field(None, description="result timeline format (default: the "
                               "editor's own): otio, fcp_xml, fcpx_xml, cmx_3600, otioz, AAF")


# ---------------------------------------------------------------- answers


class Money(_Out):
    units: float
    usd: float


class TaskOut(_Out):
    index: int
    state: str
    provider_task_id: str | None
    external_id: str
    cached: bool
    message: str


class JobOut(_Out):
    id: str
    batch_id: str
    kind: str
    label: str
    provider: str
    state: str
    progress: float
    generation: int
    attempts: int
    note: str
    error: ErrorBody | None
    estimate: Money
    billed: Money
    tasks: list[TaskOut]
    result: dict[str, Any] | None
    spec: dict[str, Any]
    created_at: float
    updated_at: float


class SkippedOut(_Out):
    name: str
    reason: str


class LinkOut(_Out):
    index: int
    job_id: str = Field(..., description="the link's job (created when its parent succeeds)")
    kind: str
    label: str
    after: str | None = Field(None, description="the job whose result feeds this link")
    feed: str = Field(..., description="source (restyled), feature (video reference) or frame")
    state: str = Field(..., description="the job's state; waiting (not created yet), blocked "
                       "(its parent ended without a result), refused (its result could not "
                       "feed it)")
    estimate_units: float
    billed_units: float
    video: str | None = None
    error: ErrorBody | None = None


class KeptOut(_Out):
    index: int
    job_id: str
    label: str
    video: str | None


class StoppedOut(_Out):
    index: int
    job_id: str
    label: str
    state: str
    error: ErrorBody | None


class ChainOut(_Out):
    id: str
    batch_id: str
    kind: str
    provider: str
    created_at: float
    state: str = Field(..., description="running | succeeded | partial (a later link failed: "
                       "the earlier results are kept) | failed | needs_attention | cancelled")
    links: list[LinkOut]
    estimate_units: float
    billed_units: float
    kept: list[KeptOut] = Field(default_factory=list)
    stopped_at: StoppedOut | None = None


class BatchOut(_Out):
    batch_id: str | None
    provider: str
    paid: bool
    draft: bool
    estimate: Money
    jobs: list[JobOut]
    skipped: list[SkippedOut] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    dry_run: bool = False
    chains: list[ChainOut] = Field(default_factory=list, description="the batch's chains: "
                                   "every link, including those still to come")


class BatchStatusOut(_Out):
    batch_id: str
    kind: str
    state: str
    created_at: float
    estimate: Money
    billed: Money
    jobs: list[JobOut]
    chains: list[ChainOut] = Field(default_factory=list)


class JobListOut(_Out):
    jobs: list[JobOut]
    next_before: str | None


class CredentialOut(_Out):
    configured: bool
    kind: str
    source: str
    standard: str | None


class ProviderOut(_Out):
    name: str
    paid: bool
    draft: bool
    held: ErrorBody | None = None


class HealthOut(_Out):
    ok: bool
    version: str
    api: str
    provider: str
    providers: list[ProviderOut]
    credentials: CredentialOut
    queue: dict[str, int]
    ready: bool


class PresetOut(_Out):
    id: str
    name: str
    category: str
    description: str


class PresetListOut(_Out):
    presets: list[PresetOut]


class ExportedFileOut(_Out):
    job_id: str
    role: str = Field(..., description="video, contact_sheet, thumbnail...")
    source: str = Field(..., description="the daemon's own output")
    path: str = Field(..., description="the copy in the export folder")


class ExportedTimelineOut(_Out):
    path: str
    format: str
    track: str | None = Field(None, description="EDLs: the new track this file holds")


class ExportOut(_Out):
    batch_id: str
    folder: str
    files: list[ExportedFileOut]
    timelines: list[ExportedTimelineOut] = Field(
        default_factory=list, description="the result timeline(s), linking to the copies")
    skipped: list[SkippedOut] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- comparison pictures


class CompareIn(_In):
    frames: int = Field(4, ge=1, le=8, description="frames of each look, top to bottom")
    tile_width: int = Field(320, ge=96, le=960, description="pixels per frame")
    source: bool = Field(True, description="the source's frames as the first column")


class CompareColumnOut(_Out):
    index: int = Field(..., description="column number on the picture (0: the source)")
    look: str
    job_id: str | None
    state: str
    estimate: Money
    billed: Money


class ComparisonOut(_Out):
    path: str
    source: str
    start_frame: int
    frame_count: int
    frames: list[int] = Field(..., description="offsets into the range shown, top to bottom")
    columns: list[CompareColumnOut]


class CompareOut(_Out):
    batch_id: str
    pictures: list[ComparisonOut]
    notes: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- elements (characters)


class ElementIn(_In):
    name: CharacterName
    images: list[LocalPath] = Field(..., min_length=1, max_length=4,
                                    description="stills of it (PNG/JPEG); copied in")
    project: ProjectName = "default"
    element_id: ElementRef | None = Field(
        None, description="Kling's element_id, made in Kling's own tools; without one the "
        "stills are sent as refer_image")
    description: Prompt = ""


class RenameIn(_In):
    name: CharacterName


class ElementOut(_Out):
    id: str
    project: str
    name: str
    images: list[str]
    element_id: str | None
    description: str
    created_at: float
    updated_at: float
    sent_as: str = Field(..., description="element or refer_image")


class ElementListOut(_Out):
    project: str
    elements: list[ElementOut]
