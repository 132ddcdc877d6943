"""The provider port: what the job engine needs from a video-model service.

Two real providers stand behind it -- the offline ``draft`` provider (local ffmpeg) and
``kling`` (both API standards) -- plus one fake per test suite. The engine never knows
which one it talks to; everything it must decide (re-send or look up, back off or fail,
hold paid work) is carried by the data types here, not by provider-specific branches.

Requests carry *local paths*: making a clip reachable by URL (Kling has no upload
endpoint) is the provider's business, so hosting stays out of the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..specs import InputLimits as InputLimits  # re-exported: the port publishes limits
from ..specs import Shot as Shot

#: US dollars per Kling unit (kling-api.md, "Prices").
USD_PER_UNIT = 0.14


class Operation(StrEnum):
    """What a task asks the model to do. Multi-shot is a generation with ``shots``."""

    EDIT = "edit"  # O3 video-to-video: restyle an existing clip
    TEXT_TO_VIDEO = "text_to_video"
    IMAGE_TO_VIDEO = "image_to_video"
    LIPSYNC = "lipsync"


class Resolution(StrEnum):
    R720 = "720p"
    R1080 = "1080p"
    R4K = "4k"


class AudioMode(StrEnum):
    """Kling's ``settings.audio``: ``original`` keeps a base video's sound (edits only)."""

    NATIVE = "native"
    ORIGINAL = "original"
    OFF = "off"


@dataclass(frozen=True)
class TaskRequest:
    """One paid (or draft) task, provider-neutral.

    A restyle of a long clip becomes several of these (one per fitted segment); each is
    sent with its own idempotency key. ``video`` is the *fitted* input clip, already within
    the provider's :class:`InputLimits`.
    """

    operation: Operation
    model: str  # "kling-3.0-omni" (O3), "kling-3.0", "kling-3.0-turbo"
    prompt: str = ""
    negative_prompt: str = ""
    preset: str | None = None  # look id; the draft provider renders it, Kling uses ``prompt``
    video: Path | None = None
    video_duration: float | None = None  # seconds of ``video``; an edit's output keeps it
    image: Path | None = None  # first frame (image-to-video, lip-sync from a still)
    end_image: Path | None = None  # last frame (image-to-video)
    reference_image: Path | None = None  # O3 ``refer_image``: style/subject reference
    audio: Path | None = None  # dialogue for lip-sync
    audio_range: tuple[float, float] | None = None  # seconds within ``audio``
    shots: tuple[Shot, ...] = ()
    duration: int | None = None  # seconds; generation only (edits keep the input length)
    resolution: Resolution = Resolution.R1080
    aspect_ratio: str | None = None  # "16:9" | "9:16" | "1:1"; None lets the input decide
    audio_mode: AudioMode = AudioMode.OFF
    seed: int = 0  # variant index; the draft provider varies its look by it
    # Omni references of a generation (no base video): a clip to follow -- its look
    # (``feature_mode`` "style") or as the shot before ("next_shot") -- as Kling's
    # ``feature_video``; stills to keep consistent as ``refer_image``; provider element ids
    # as ``element``, with ``element_stills`` standing in where elements are not taken.
    feature_video: Path | None = None
    feature_seconds: float | None = None
    feature_mode: str = "style"
    refer_images: tuple[Path, ...] = ()
    elements: tuple[str, ...] = ()
    element_stills: tuple[Path, ...] = ()
    labels: tuple[str, ...] = ()  # names of the characters referred to (drafts label them)

    @property
    def has_video_input(self) -> bool:
        """A video goes in (a base or a feature video): priced as "O3 with a video input"."""
        return self.video is not None or self.feature_video is not None

    @property
    def output_seconds(self) -> float:
        """Seconds of video the provider will bill for."""
        if self.operation is Operation.EDIT and self.video_duration is not None:
            return self.video_duration
        if self.shots:
            return float(sum(s.duration for s in self.shots))
        if self.duration is not None:
            return float(self.duration)
        if self.audio_range is not None:
            return max(0.0, self.audio_range[1] - self.audio_range[0])
        return 0.0


@dataclass(frozen=True)
class Cost:
    """Credits in Kling units; dollars derived. Draft work costs nothing."""

    units: float = 0.0

    @property
    def usd(self) -> float:
        return round(self.units * USD_PER_UNIT, 4)

    def __add__(self, other: Cost) -> Cost:
        return Cost(round(self.units + other.units, 6))

    def as_dict(self) -> dict[str, float]:
        return {"units": self.units, "usd": self.usd}


ZERO = Cost(0.0)


class TaskPhase(StrEnum):
    """A provider task's life, normalised (legacy ``succeed`` becomes ``succeeded``)."""

    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class TaskOutput:
    """One result file of a task. Kling's URLs expire after 30 days: fetch at once."""

    url: str
    output_id: str = ""
    duration: float | None = None
    kind: str = "video"


@dataclass(frozen=True)
class TaskStatus:
    task_id: str
    external_id: str | None
    phase: TaskPhase
    message: str = ""
    outputs: tuple[TaskOutput, ...] = ()
    billed: Cost | None = None  # what the provider says it charged

    @property
    def done(self) -> bool:
        return self.phase in (TaskPhase.SUCCEEDED, TaskPhase.FAILED)


@dataclass(frozen=True)
class Capabilities:
    operations: frozenset[Operation]
    resolutions: frozenset[Resolution] = frozenset(Resolution)
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16", "1:1")
    native_audio: bool = True
    paid: bool = False
    draft: bool = False  # outputs are local approximations, labelled as drafts


class ErrorKind(StrEnum):
    """How the engine must react, whatever the provider's own code was."""

    AUTH = "auth"  # credentials wrong or expired: fix login; refresh once for JWTs
    QUOTA = "quota"  # credits exhausted / arrears: fail and hold further paid work
    RATE_LIMIT = "rate_limit"  # 1302/1303: stay queued, back off, spend no attempt
    POLICY = "policy"  # content safety: fail with the provider's message
    BAD_REQUEST = "bad_request"  # our request broke a rule: fail, say which
    PERMISSION = "permission"  # account may not use this model
    NOT_FOUND = "not_found"
    SERVER = "server"  # provider-side 5xx: the create may have happened
    CONNECTION = "connection"  # dropped or timed out: the create may have happened
    DUPLICATE = "duplicate"  # idempotency key already used: the task exists, look it up


@dataclass
class ProviderError(Exception):
    """A refusal or failure, already translated into what to do about it."""

    kind: ErrorKind
    message: str
    hint: str = ""
    code: int | None = None  # the provider's own code (Kling's 1102, 5000, ...)
    http_status: int | None = None
    # A create may have been billed: look up before anything. False on a create's error
    # means the provider *said* nothing was created (or nothing was sent): the engine then
    # sends again under the same key, which is safe because a duplicate key is refused.
    maybe_created: bool = False
    retry_after: float | None = None  # seconds, when the provider says

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        return self.kind in (
            ErrorKind.RATE_LIMIT,
            ErrorKind.SERVER,
            ErrorKind.CONNECTION,
        )

    def __str__(self) -> str:
        code = f" (code {self.code})" if self.code is not None else ""
        return f"{self.message}{code}"


def poll_delay(
    age_seconds: float,
    *,
    minimum: float = 3.0,
    maximum: float = 30.0,
    fraction: float = 0.02,
) -> float:
    """Seconds to wait before asking again about a task submitted ``age_seconds`` ago.

    Tasks take from ~30 s to an hour (4K edits). A fixed interval is either chatty on long
    tasks or slow to notice short ones, so the delay is a share of the task's age inside
    ``[minimum, maximum]``: a result is noticed at most ``fraction`` of its age late once past
    the minimum, and an hour-long edit is asked about every ``maximum`` seconds.
    """
    if minimum <= 0 or maximum < minimum:
        raise ValueError("need 0 < minimum <= maximum")
    return min(maximum, max(minimum, fraction * max(0.0, age_seconds)))


@dataclass(frozen=True)
class Reachability:
    ok: bool
    detail: str
    hint: str = ""


@runtime_checkable
class Provider(Protocol):
    """The port. Every method that can cost money says so.

    ``submit`` is the only paid call. The engine records ``external_id`` (and ``locate``'s
    answer) durably before calling it; after an exception that may have created the task
    (``maybe_created``, or anything that is not a ``ProviderError``) it calls ``lookup``
    before anything else. A refusal that says nothing was created is sent again later under
    the same key -- safe only because ``submit`` refuses a key already used (DUPLICATE).
    """

    name: str
    limits: InputLimits
    capabilities: Capabilities

    def validate(self, request: TaskRequest) -> None:
        """Raise ``ProviderError(BAD_REQUEST)`` for a request the service would refuse.

        Runs before anything is paid, so every documented rule belongs here.
        """

    def estimate(self, request: TaskRequest) -> Cost:
        """The price of ``request`` before it is sent (pure)."""

    async def submit(self, request: TaskRequest, external_id: str) -> str:
        """PAID. Create the task; return the provider's task id."""

    def locate(self, request: TaskRequest) -> str:
        """Where a task for ``request`` will live (an endpoint, a queue: the provider's word).

        The engine records it with the key before the create, and hands it back to
        ``lookup``, so a task is looked for only where it was created."""

    async def lookup(self, external_ids: Sequence[str], where: str = ""
                     ) -> dict[str, TaskStatus]:
        """Find tasks by idempotency key, created at ``where`` (``locate``'s answer; empty:
        anywhere). A key missing from the answer proves no task exists."""

    async def poll(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """Status of tasks by provider id (batched by the provider as it needs)."""

    async def fetch(self, output: TaskOutput, dest: Path) -> Path:
        """Download one output to ``dest`` (temp name, verified, renamed); return it."""

    async def check(self) -> Reachability:
        """Can the service be reached with the configured credentials? (free)"""

    async def aclose(self) -> None:
        """Release connections and listeners."""


@dataclass
class ProviderInfo:
    """What the API's health answer says of a provider (never a secret)."""

    name: str
    paid: bool
    draft: bool
    credential_source: str | None = None
    details: dict[str, str] = field(default_factory=dict)
