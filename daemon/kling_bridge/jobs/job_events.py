"""What can happen to a job: one frozen dataclass per event, fed to :func:`.transitions.apply`.

The engine (and a person, through the API: cancel, retry) reports what happened; the
transition function alone decides what it means. Events carry facts, never decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .records import JobError


@dataclass(frozen=True)
class Start:
    """A worker picked the job up."""


@dataclass(frozen=True)
class Prepared:
    """Inputs are ready; ``count`` provider tasks are needed, costing ``estimate_units``."""

    count: int
    estimate_units: float


@dataclass(frozen=True)
class CacheHit:
    """An identical earlier request's outputs serve task ``index`` for nothing."""

    index: int
    files: tuple[str, ...]


@dataclass(frozen=True)
class SendIntent:
    """About to make the paid create call for task ``index`` (committed first).

    ``where`` is the provider's word for where the task will live (see
    ``Provider.locate``): recorded with the key so a later lookup asks only there.
    """

    index: int
    where: str = ""


@dataclass(frozen=True)
class SendAccepted:
    index: int
    provider_task_id: str


@dataclass(frozen=True)
class SendFailed:
    """The create failed in a way that may have created the task. Look it up next."""

    index: int
    message: str


@dataclass(frozen=True)
class SendRefused:
    """The provider refused the create and said nothing was created (a 1302/1303 rate
    limit, a 4xx refusal, a connection refused before anything was sent).

    The task is sendable again under the same key: safe by construction, because the
    provider refuses a duplicate key (see the module docstring).
    """

    index: int
    message: str


@dataclass(frozen=True)
class LookupFound:
    index: int
    provider_task_id: str


@dataclass(frozen=True)
class LookupAbsent:
    """The provider proved no task exists under the key: sending again is safe."""

    index: int


@dataclass(frozen=True)
class Submitted:
    """Every task is held by the provider: wait for them."""


@dataclass(frozen=True)
class TaskUpdate:
    index: int
    done: bool
    succeeded: bool
    message: str = ""
    outputs: tuple[dict[str, Any], ...] = ()
    billed_units: float | None = None


@dataclass(frozen=True)
class TasksDone:
    """Every task succeeded at the provider: fetch the outputs."""


@dataclass(frozen=True)
class Fetched:
    index: int
    files: tuple[str, ...]


@dataclass(frozen=True)
class Downloaded:
    """Every output is on disk: conform and finish locally."""


@dataclass(frozen=True)
class Finished:
    result: Mapping[str, Any]


@dataclass(frozen=True)
class Backoff:
    """Wait before acting again; a rate limit spends no attempt, other retryables do."""

    until: float
    reason: str
    spend_attempt: bool = True
    requeue: bool = False  # go back to queued (frees the worker slot)


@dataclass(frozen=True)
class Progress:
    value: float
    note: str = ""


@dataclass(frozen=True)
class Fail:
    error: JobError


@dataclass(frozen=True)
class Attention:
    """Paid work whose fate is unresolved: stop and ask a person."""

    error: JobError


@dataclass(frozen=True)
class Cancel:
    """The user cancelled. There is no cancel at Kling: a sent task is paid for."""


@dataclass(frozen=True)
class Retry:
    """The user asked to run a failed, cancelled or unresolved job again."""


@dataclass(frozen=True)
class Recover:
    """Daemon start: the job was found non-terminal after a stop or a crash."""


Event = (
    Start
    | Prepared
    | CacheHit
    | SendIntent
    | SendAccepted
    | SendFailed
    | SendRefused
    | LookupFound
    | LookupAbsent
    | Submitted
    | TaskUpdate
    | TasksDone
    | Fetched
    | Downloaded
    | Finished
    | Backoff
    | Progress
    | Fail
    | Attention
    | Cancel
    | Retry
    | Recover
)
