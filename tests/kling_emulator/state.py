"""The emulator's memory: accounts, tasks and their life, faults, and what it saw.

A task's phase is a function of the clock (``submitted`` for ``submitted_seconds``, then
``processing`` for ``processing_seconds`` and until its result is rendered, then
``succeeded``/``failed``), so tests get real transitions without a scheduler.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class KlingError(Exception):
    """An error answer: HTTP status + Kling code + message (the envelope is built from it)."""

    def __init__(self, http: int, code: int, message: str) -> None:
        super().__init__(message)
        self.http = http
        self.code = code
        self.message = message


def bad(message: str, code: int = 1201) -> KlingError:
    return KlingError(400, code, message)


@dataclass
class Account:
    """One Kling account: an API key and/or an AK/SK pair, a resource pack and a slot count."""

    api_key: str | None = "test-api-key-0123456789abcdef"
    access_key: str | None = "test-access-key"
    secret_key: str | None = "test-secret-key-0123456789abcdef0123"
    balance_units: float | None = None  # None = unlimited (postpaid)
    concurrency: int = 10
    name: str = "default"
    last_costs_call: float = 0.0
    # Element ids this account holds. kling-api.md documents no way to create one (they are
    # made in Kling's own tools), only how a task refers to one; empty: any id is taken.
    elements: frozenset[str] = frozenset()


@dataclass
class Fault:
    """One injected misbehaviour, consumed ``count`` times by matching requests.

    ``on``: create | query | identify | download | any.
    ``action``: error (answer ``code`` without acting) | error_after_create (create, then
    answer ``code``) | drop_after_create | hold_after_create (create, then wait ``seconds``)
    | drop (close the connection, no answer) | fail_task (the task ends failed with
    ``message``) | slow (the task processes for ``seconds``) | truncate (a download stops
    after ``bytes`` bytes, default half the file).
    """

    on: str
    action: str
    count: int = 1
    code: int = 0
    message: str = ""
    seconds: float = 0.0
    bytes: int = 0
    path_contains: str = ""

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Fault:
        known = {k: v for k, v in data.items() if k in Fault.__dataclass_fields__}
        return Fault(**known)


@dataclass
class RenderSpec:
    kind: str  # edit | t2v | i2v | lipsync
    duration: float
    video: Path | None = None
    image: Path | None = None
    sound: Path | None = None
    sound_range: tuple[float, float] = (0.0, 0.0)
    sound_insert: float = 0.0
    keep_audio: bool = False
    native_audio: bool = False
    aspect_ratio: str = "16:9"


@dataclass
class Task:
    id: str
    account: Account
    external_id: str | None
    standard: str  # "new" | "legacy"
    endpoint: str  # new: "/omni-video/kling-3.0-omni"; legacy: "omni-video"
    units: float
    render: RenderSpec
    submitted_seconds: float
    processing_seconds: float
    created: float = field(default_factory=time.time)
    received: float = 0.0  # when its create request arrived (before fetching inputs)
    fail_message: str = ""
    outputs: list[tuple[str, Path, float]] = field(default_factory=list)  # id, file, seconds
    rendered_at: float | None = None
    render_error: str = ""
    job: asyncio.Task[None] | None = None
    charged: bool = True
    inputs: list[dict[str, Any]] = field(default_factory=list)  # ffprobe facts of fetched inputs

    @property
    def planned_end(self) -> float:
        return self.created + self.submitted_seconds + self.processing_seconds

    def phase(self, now: float) -> str:
        if now < self.created + self.submitted_seconds:
            return "submitted"
        if self.fail_message and now >= self.planned_end:
            return "failed"
        if now < self.planned_end or self.rendered_at is None:
            return "processing"
        return "failed" if self.render_error else "succeeded"

    def finished_at(self) -> float | None:
        if self.fail_message:
            return self.planned_end
        if self.rendered_at is None:
            return None
        return max(self.planned_end, self.rendered_at)

    def failure(self) -> str:
        return self.fail_message or self.render_error


@dataclass
class Session:
    """An identify-face session (24 h): the video and its faces."""

    id: str
    account: Account
    video: Path
    video_seconds: float
    faces: list[str]
    expires: float
    detection_units: float
    used: bool = False


class Stats:
    """What the emulator saw: tests assert "exactly one task", "no auth on results", ..."""

    def __init__(self) -> None:
        self.creates_attempted: Counter[str] = Counter()  # by external id
        self.tasks_created: Counter[str] = Counter()  # by external id
        self.queries = 0
        self.max_ids_per_query = 0
        self.downloads = 0
        self.auth_on_results = 0
        self.auth_failures: Counter[int] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.ignored_top_level_callback = 0

    def as_dict(self, tasks: list[Task]) -> dict[str, Any]:
        return {
            "creates_attempted": dict(self.creates_attempted),
            "tasks_created": dict(self.tasks_created),
            "total_tasks": len(tasks),
            "queries": self.queries,
            "max_ids_per_query": self.max_ids_per_query,
            "downloads": self.downloads,
            "auth_on_results": self.auth_on_results,
            "auth_failures": {str(k): v for k, v in self.auth_failures.items()},
            "ignored_top_level_callback": self.ignored_top_level_callback,
            "tasks": [
                {
                    "id": t.id,
                    "external_id": t.external_id,
                    "standard": t.standard,
                    "endpoint": t.endpoint,
                    "phase": t.phase(time.time()),
                    "received": t.received or t.created,
                    "created": t.created,
                    "finished": t.finished_at(),
                    "units": t.units,
                    "charged": t.charged,
                    "inputs": t.inputs,
                }
                for t in tasks
            ],
            "requests": self.requests,
        }


def new_id() -> str:
    return uuid.uuid4().hex[:20]
