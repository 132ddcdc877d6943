"""A job and its provider tasks, as plain frozen data: states, ids and the two records.

A job is a handful of provider tasks (a long clip is split into segments), walked through
queued -> preparing -> submitting -> running -> downloading -> finishing -> succeeded,
with failed / cancelled as ends and ``needs_attention`` for paid work whose fate a person
must decide (the provider lost track of it, or its outputs cannot be fetched). What may
change them, and when, is :mod:`.transitions`' alone; the store persists them.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class JobKind(StrEnum):
    RESTYLE = "restyle"
    GENERATE = "generate"
    LIPSYNC = "lipsync"


class JobState(StrEnum):
    QUEUED = "queued"
    PREPARING = "preparing"
    SUBMITTING = "submitting"
    RUNNING = "running"
    DOWNLOADING = "downloading"
    FINISHING = "finishing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    NEEDS_ATTENTION = "needs_attention"  # paid but unresolved: a person decides


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
ACTIVE = frozenset(
    {
        JobState.PREPARING,
        JobState.SUBMITTING,
        JobState.RUNNING,
        JobState.DOWNLOADING,
        JobState.FINISHING,
    }
)
RETRYABLE_STATES = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.NEEDS_ATTENTION})


class TaskState(StrEnum):
    PENDING = "pending"  # nothing sent under the current key (or a lookup proved it absent)
    SENDING = "sending"  # key recorded, create call under way: outcome unknown until answered
    UNKNOWN = "unknown"  # the create failed or we crashed: look up by key before anything
    ACCEPTED = "accepted"  # the provider holds the task (paid)
    DONE = "done"  # the provider finished it successfully; outputs not yet fetched
    FETCHED = "fetched"  # outputs are on our disk
    FAILED = "failed"  # the provider failed it


PAID_TASK_STATES = frozenset({TaskState.ACCEPTED, TaskState.DONE, TaskState.FETCHED})

ID_PATTERN = r"[jb][0-9a-f]{23}"
_ID_RE = re.compile(rf"^{ID_PATTERN}$")


def new_id(prefix: str, now: float | None = None) -> str:
    """Sortable by creation time: 11 hex digits of milliseconds, 12 random."""
    ms = int((time.time() if now is None else now) * 1000)
    return f"{prefix}{ms:011x}{secrets.token_hex(6)}"


def new_ids(prefix: str, count: int, now: float | None = None) -> list[str]:
    """``count`` ids made at one moment that still sort in the order asked for (a batch's
    jobs are read back by id, and the editor's order of clips and looks is theirs): the
    first 4 of the 12 random digits count up, the last 8 stay random -- the job's own tag
    in its output names."""
    if count > 0x8000:
        raise ValueError(f"{count} ids at once: at most 32768")
    ms = int((time.time() if now is None else now) * 1000)
    start = secrets.randbelow(0x8000)  # room to count up to 32768 jobs without wrapping
    return [f"{prefix}{ms:011x}{start + n:04x}{secrets.token_hex(4)}" for n in range(count)]


def valid_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def external_id(job_id: str, index: int, generation: int) -> str:
    """The idempotency key sent as Kling's ``external_task_id``: one per task per generation."""
    return f"kb-{job_id}-{index}-{generation}"


@dataclass(frozen=True)
class JobError:
    code: str
    message: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


@dataclass(frozen=True)
class Task:
    index: int
    generation: int
    external_id: str
    state: TaskState = TaskState.PENDING
    provider_task_id: str | None = None
    sends: int = 0  # create calls made under this key
    cleared: int = 0  # lookups that proved no task exists under this key
    message: str = ""
    outputs: tuple[dict[str, Any], ...] = ()  # provider outputs (url, id, duration)
    files: tuple[str, ...] = ()  # fetched local files
    billed_units: float | None = None
    cached: bool = False  # served from the result cache: nothing was sent
    where: str = ""  # where the provider keeps the task (its endpoint): look it up only there
    unknown_since: float = 0.0  # when its fate became unknown (lookups give up after a while)

    @property
    def paid(self) -> bool:
        return self.state in PAID_TASK_STATES and not self.cached


@dataclass(frozen=True)
class Job:
    id: str
    batch_id: str
    kind: JobKind
    provider: str
    spec: Mapping[str, Any]
    state: JobState = JobState.QUEUED
    generation: int = 1
    attempts: int = 0  # retryable failures spent in this generation
    tasks: tuple[Task, ...] = ()
    estimate_units: float = 0.0
    error: JobError | None = None
    note: str = ""
    progress: float = 0.0
    result: Mapping[str, Any] | None = None
    not_before: float = 0.0  # do not act on the job before this time (backoff)
    created_at: float = 0.0
    updated_at: float = 0.0
    label: str = ""  # what an editor calls it: "A003 - film noir (v2)"
    committed_at: float = 0.0  # first paid send: counts against that day's budget

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def billed_units(self) -> float:
        return round(sum(t.billed_units or 0.0 for t in self.tasks if not t.cached), 6)

    @property
    def paid_tasks(self) -> int:
        return sum(1 for t in self.tasks if t.paid)

    def task(self, index: int) -> Task:
        return self.tasks[index]
