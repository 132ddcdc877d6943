"""The API's wire shapes (v1), validated at the edge with pydantic.

These models are the contract the host plugins, the watch folder and scripts share; the
OpenAPI document is generated from them, and a test checks real answers against it. Add
optional fields freely; never rename or remove one once a plugin uses it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .inputs import (
    IdempotencyKey,
    LocalPath,
    ModelName,
    Name,
    PresetId,
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
                                    description="default: kling.generate_model in the settings")
    dry_run: bool = False
    idempotency_key: IdempotencyKey | None = None


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


class BatchStatusOut(_Out):
    batch_id: str
    kind: str
    state: str
    created_at: float
    estimate: Money
    billed: Money
    jobs: list[JobOut]


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
