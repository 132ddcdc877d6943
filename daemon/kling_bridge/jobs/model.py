"""The job model's public face: records, events and the transition function in one name.

Callers write ``from ..jobs import model as m`` and use ``m.Job``, ``m.apply(job,
m.SendIntent(0), now)``, ``m.JobState``... The model lives in three modules, each with one
responsibility:

* :mod:`.records` -- the data: ``Job``, ``Task``, ``JobError``, states, ids;
* :mod:`.job_events` -- what can happen to a job (one dataclass per event);
* :mod:`.transitions` -- what each event means (``apply``, the money rules in its
  docstring) and what to do next (``next_step``).

Retry pacing (``backoff_delay``, ``lookup_delay``) is :mod:`.budget`'s; the JSON shape of a
job (``job_summary``) is the API's (:mod:`kling_bridge.api.summary`).
"""

from __future__ import annotations

from .budget import backoff_delay, lookup_delay
from .job_events import (
    Attention,
    Backoff,
    CacheHit,
    Cancel,
    Downloaded,
    Event,
    Fail,
    Fetched,
    Finished,
    LookupAbsent,
    LookupFound,
    Prepared,
    Progress,
    Recover,
    Retry,
    SendAccepted,
    SendFailed,
    SendIntent,
    SendRefused,
    Start,
    Submitted,
    TasksDone,
    TaskUpdate,
)
from .records import (
    ACTIVE,
    ID_PATTERN,
    PAID_TASK_STATES,
    RETRYABLE_STATES,
    TERMINAL,
    Job,
    JobError,
    JobKind,
    JobState,
    Task,
    TaskState,
    external_id,
    new_id,
    new_ids,
    valid_id,
)
from .transitions import IllegalTransition, apply, next_step

__all__ = [
    "ACTIVE",
    "ID_PATTERN",
    "PAID_TASK_STATES",
    "RETRYABLE_STATES",
    "TERMINAL",
    "Attention",
    "Backoff",
    "CacheHit",
    "Cancel",
    "Downloaded",
    "Event",
    "Fail",
    "Fetched",
    "Finished",
    "IllegalTransition",
    "Job",
    "JobError",
    "JobKind",
    "JobState",
    "LookupAbsent",
    "LookupFound",
    "Prepared",
    "Progress",
    "Recover",
    "Retry",
    "SendAccepted",
    "SendFailed",
    "SendIntent",
    "SendRefused",
    "Start",
    "Submitted",
    "Task",
    "TaskState",
    "TaskUpdate",
    "TasksDone",
    "apply",
    "backoff_delay",
    "external_id",
    "lookup_delay",
    "new_id",
    "new_ids",
    "next_step",
    "valid_id",
]
