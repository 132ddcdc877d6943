"""The job state machine: pure data and one transition function.

Everything money depends on is decided here, without I/O, so it can be driven by a
Hypothesis state machine with crashes thrown in. The rules that matter:

* A provider task is *intended* (its idempotency key recorded, state ``sending``) before
  the paid call is made; the store commits that transition before the engine calls
  ``submit``.
* After a failure of a create that may have acted -- a server error, a dropped
  connection, an unreadable answer -- and after a crash while ``sending``, the task is
  ``unknown``: the only legal next step is a lookup by key. Only a lookup that proves the
  task absent makes it ``pending`` (sendable) again. So a key is never sent twice while a
  task might exist under it.
* An explicit refusal that says nothing was created (Kling's 429 with 1302 "rate limit" or
  1303 "concurrency over the resource pack limit", every 4xx refusal, a connection refused
  before a byte was sent) makes the task ``pending`` again under the *same* key, with no
  lookup (:class:`SendRefused`). Re-sending that key is safe by construction, even if the
  refusal were wrong: the provider refuses a duplicate idempotency key (Kling answers 1201
  to a reused ``external_task_id``), so a second create under one key can never become a
  second task or a second payment -- the worst it can do is come back as a duplicate, which
  makes the task ``unknown`` and is looked up like any other doubt. A busy account (1303 is
  what new accounts hit all the time) therefore leaves its jobs waiting in the queue and
  re-sending later; it never strands them in ``needs_attention``.
* A user's retry of a task the provider *failed* starts a new generation with a new key:
  that is a new, deliberate payment; nothing else ever mints a key.

A job is a handful of provider tasks (a long clip is split into segments), walked through
queued -> preparing -> submitting -> running -> downloading -> finishing -> succeeded,
with failed / cancelled as ends and ``needs_attention`` for paid work whose fate a person
must decide (the provider lost track of it, or its outputs cannot be fetched).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from ..providers.base import USD_PER_UNIT


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
# A send's outcome is recorded even after a cancel: the task is paid for, keep its id.
_SEND_BOOKKEEPING = frozenset({JobState.SUBMITTING, JobState.CANCELLED})
_LOOKUP_STATES = frozenset({JobState.SUBMITTING, JobState.NEEDS_ATTENTION, JobState.CANCELLED})
_REQUEUABLE = frozenset({JobState.PREPARING, JobState.SUBMITTING})


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


# ---------------------------------------------------------------- events


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


class IllegalTransition(Exception):
    def __init__(self, job: Job, event: Event, why: str) -> None:
        super().__init__(f"job {job.id} in {job.state}: {type(event).__name__} refused: {why}")
        self.job = job
        self.event = event
        self.why = why


# ---------------------------------------------------------------- transitions


def _require(job: Job, event: Event, ok: bool, why: str) -> None:
    if not ok:
        raise IllegalTransition(job, event, why)


def _with_task(job: Job, index: int, **changes: Any) -> tuple[Task, ...]:
    tasks = list(job.tasks)
    tasks[index] = replace(tasks[index], **changes)
    return tuple(tasks)


def _task_in(job: Job, event: Event, index: int, *states: TaskState) -> Task:
    _require(job, event, 0 <= index < len(job.tasks), f"no task {index}")
    task = job.tasks[index]
    _require(
        job,
        event,
        task.state in states,
        f"task {index} is {task.state}, needs {'/'.join(states)}",
    )
    return task


def _spent_note(job: Job) -> str:
    sent = sum(1 for t in job.tasks if t.sends and not t.cached)
    if not sent:
        return ""
    units = job.billed_units or job.estimate_units
    return (
        f"{sent} task(s) were already sent to {job.provider}; there is no cancel "
        f"endpoint, so those credits (about {units:g} units) are spent"
    )


def apply(job: Job, event: Event, now: float) -> Job:
    """The one place that decides what is legal. Returns a new job; never mutates."""
    new = _apply(job, event, now)
    return replace(new, updated_at=now)


def _apply(job: Job, event: Event, now: float) -> Job:
    s = job.state
    match event:
        case Start():
            _require(job, event, s is JobState.QUEUED, "only a queued job starts")
            return replace(job, state=JobState.PREPARING, error=None)

        case Prepared(count=count, estimate_units=units):
            _require(job, event, s is JobState.PREPARING, "not preparing")
            _require(job, event, count >= 1, "a job needs at least one task")
            tasks = job.tasks
            if len(tasks) != count:
                # The first preparation, or the plan changed before anything was sent.
                _require(job, event, not any(t.sends for t in tasks), "tasks already sent")
                tasks = tuple(
                    Task(i, job.generation, external_id(job.id, i, job.generation))
                    for i in range(count)
                )
            return replace(job, state=JobState.SUBMITTING, tasks=tasks, estimate_units=units)

        case CacheHit(index=i, files=files):
            _require(job, event, s is JobState.SUBMITTING, "not submitting")
            _task_in(job, event, i, TaskState.PENDING)
            return replace(
                job,
                tasks=_with_task(
                    job, i, state=TaskState.FETCHED, files=files, cached=True, billed_units=0.0
                ),
            )

        case SendIntent(index=i, where=where):
            _require(job, event, s is JobState.SUBMITTING, "not submitting")
            task = _task_in(job, event, i, TaskState.PENDING)
            _require(
                job,
                event,
                task.sends == task.cleared,
                "a task may exist under this key: look it up first",
            )
            return replace(
                job,
                tasks=_with_task(job, i, state=TaskState.SENDING, sends=task.sends + 1,
                                 where=where or task.where),
                committed_at=job.committed_at or now,
            )

        case SendAccepted(index=i, provider_task_id=pid):
            _require(job, event, s in _SEND_BOOKKEEPING, "not submitting")
            _task_in(job, event, i, TaskState.SENDING, TaskState.UNKNOWN)
            return replace(
                job, tasks=_with_task(job, i, state=TaskState.ACCEPTED, provider_task_id=pid)
            )

        case SendFailed(index=i, message=msg):
            _require(job, event, s in _SEND_BOOKKEEPING, "not submitting")
            _task_in(job, event, i, TaskState.SENDING)
            return replace(job, tasks=_with_task(job, i, state=TaskState.UNKNOWN, message=msg,
                                                 unknown_since=now))

        case SendRefused(index=i, message=msg):
            _require(job, event, s in _SEND_BOOKKEEPING, "not submitting")
            task = _task_in(job, event, i, TaskState.SENDING)
            # Nothing was created: the key is clear to send again (a duplicate is refused).
            return replace(job, tasks=_with_task(job, i, state=TaskState.PENDING, message=msg,
                                                 cleared=task.sends))

        case LookupFound(index=i, provider_task_id=pid):
            _require(job, event, s in _LOOKUP_STATES, "not looking tasks up")
            _task_in(job, event, i, TaskState.UNKNOWN)
            return replace(
                job, tasks=_with_task(job, i, state=TaskState.ACCEPTED, provider_task_id=pid)
            )

        case LookupAbsent(index=i):
            _require(job, event, s in _LOOKUP_STATES, "not looking tasks up")
            task = _task_in(job, event, i, TaskState.UNKNOWN)
            return replace(
                job,
                tasks=_with_task(job, i, state=TaskState.PENDING, cleared=task.sends,
                                 unknown_since=0.0),
            )

        case Submitted():
            _require(job, event, s is JobState.SUBMITTING, "not submitting")
            _require(
                job,
                event,
                all(t.state in PAID_TASK_STATES or t.cached for t in job.tasks),
                "some task is not yet held by the provider",
            )
            return replace(job, state=JobState.RUNNING, not_before=0.0)

        case TaskUpdate(
            index=i, done=done, succeeded=ok, message=msg, outputs=outs, billed_units=b
        ):
            _require(job, event, s is JobState.RUNNING, "not running")
            task = _task_in(job, event, i, TaskState.ACCEPTED)
            if not done:
                return replace(job, tasks=_with_task(job, i, message=msg))
            state = TaskState.DONE if ok else TaskState.FAILED
            billed = b if b is not None else task.billed_units
            return replace(
                job,
                tasks=_with_task(
                    job, i, state=state, message=msg, outputs=outs, billed_units=billed
                ),
            )

        case TasksDone():
            _require(job, event, s is JobState.RUNNING, "not running")
            _require(
                job,
                event,
                all(t.state in (TaskState.DONE, TaskState.FETCHED) for t in job.tasks),
                "some task is not done",
            )
            return replace(job, state=JobState.DOWNLOADING)

        case Fetched(index=i, files=files):
            _require(job, event, s is JobState.DOWNLOADING, "not downloading")
            _task_in(job, event, i, TaskState.DONE)
            return replace(job, tasks=_with_task(job, i, state=TaskState.FETCHED, files=files))

        case Downloaded():
            _require(job, event, s is JobState.DOWNLOADING, "not downloading")
            _require(
                job,
                event,
                all(t.state is TaskState.FETCHED for t in job.tasks),
                "some output is not fetched",
            )
            return replace(job, state=JobState.FINISHING)

        case Finished(result=result):
            _require(job, event, s is JobState.FINISHING, "not finishing")
            return replace(
                job, state=JobState.SUCCEEDED, result=dict(result), progress=1.0, error=None
            )

        case Backoff(until=until, reason=reason, spend_attempt=spend, requeue=requeue):
            _require(job, event, s in ACTIVE, "only an active job backs off")
            _require(
                job,
                event,
                not requeue or (s in _REQUEUABLE and not _in_flight(job)),
                "only a preparing or submitting job with no send in flight goes back to the queue",
            )
            return replace(
                job,
                state=JobState.QUEUED if requeue else s,
                attempts=job.attempts + (1 if spend else 0),
                not_before=until,
                note=reason,
            )

        case Progress(value=value, note=note):
            _require(job, event, s in ACTIVE, "only an active job progresses")
            return replace(job, progress=max(0.0, min(1.0, value)), note=note or job.note)

        case Fail(error=err):
            _require(job, event, s not in TERMINAL, "already ended")
            _require(job, event, not _in_flight(job), "a send is in flight: resolve it first")
            _require(
                job,
                event,
                not any(t.state is TaskState.UNKNOWN for t in job.tasks),
                "a task may exist at the provider: look it up, or ask a person (attention)",
            )
            return replace(job, state=JobState.FAILED, error=err, note=_spent_note(job))

        case Attention(error=err):
            _require(job, event, s in ACTIVE, "only active paid work needs attention")
            return replace(job, state=JobState.NEEDS_ATTENTION, error=err)

        case Cancel():
            _require(job, event, s not in TERMINAL, "already ended")
            return replace(job, state=JobState.CANCELLED, note=_spent_note(job))

        case Retry():
            _require(job, event, s in RETRYABLE_STATES, "only ended or unresolved jobs retry")
            gen = job.generation
            if any(t.state is TaskState.FAILED for t in job.tasks):
                gen += 1
            # A person asked to look again: unresolved tasks get a fresh spell of lookups.
            tasks = tuple(
                Task(t.index, gen, external_id(job.id, t.index, gen))
                if t.state is TaskState.FAILED
                else (replace(t, state=TaskState.UNKNOWN, unknown_since=now)
                      if t.state in (TaskState.SENDING, TaskState.UNKNOWN) else t)
                for t in job.tasks
            )
            return replace(
                job,
                state=JobState.QUEUED,
                generation=gen,
                tasks=tasks,
                attempts=0,
                error=None,
                note="",
                not_before=0.0,
                progress=0.0,
            )

        case Recover():
            _require(job, event, s not in TERMINAL, "ended jobs need no recovery")
            tasks = tuple(
                replace(t, state=TaskState.UNKNOWN, unknown_since=t.unknown_since or now)
                if t.state in (TaskState.SENDING, TaskState.UNKNOWN) else t
                for t in job.tasks
            )
            resumed = JobState.QUEUED if s is JobState.PREPARING else s
            return replace(job, state=resumed, tasks=tasks)

    raise IllegalTransition(job, event, "unknown event")  # pragma: no cover


def _in_flight(job: Job) -> bool:
    """A create call under way: its outcome is unknown until answered."""
    return any(t.state is TaskState.SENDING for t in job.tasks)


def next_step(job: Job) -> str:
    """What the engine should do with ``job`` now (pure; the engine just dispatches)."""
    match job.state:
        case JobState.QUEUED:
            return "start"
        case JobState.PREPARING:
            return "prepare"
        case JobState.SUBMITTING:
            if any(t.state is TaskState.UNKNOWN for t in job.tasks):
                return "lookup"
            if any(t.state is TaskState.PENDING for t in job.tasks):
                return "send"
            if any(t.state is TaskState.SENDING for t in job.tasks):
                return "lookup"  # only after a crash; live sends are awaited
            return "submitted"
        case JobState.RUNNING:
            # Wait for every task before failing: a retry reuses the ones that succeeded.
            if any(t.state is TaskState.ACCEPTED for t in job.tasks):
                return "poll"
            if any(t.state is TaskState.FAILED for t in job.tasks):
                return "fail"
            return "tasks_done"
        case JobState.DOWNLOADING:
            if all(t.state is TaskState.FETCHED for t in job.tasks):
                return "downloaded"
            return "fetch"
        case JobState.FINISHING:
            return "finish"
    return "none"


def backoff_delay(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with full jitter in [0.5, 1.0] of the step (``jitter`` in [0, 1))."""
    step: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    return step * (0.5 + 0.5 * jitter)


def lookup_delay(unknown_for: float, base: float, cap: float, jitter: float) -> float:
    """Seconds before looking an unresolved task up again: a share of how long it has been
    unresolved, within ``[base, cap]`` (with jitter in [0.5, 1.0]), so a brief outage is
    retried within seconds and a long one is asked about every ``cap`` seconds."""
    step = min(cap, max(base, 0.5 * max(0.0, unknown_for)))
    return step * (0.5 + 0.5 * jitter)


def job_summary(job: Job) -> dict[str, Any]:
    """The JSON shape of a job in API answers and events (never a secret: specs hold none)."""
    return {
        "id": job.id,
        "batch_id": job.batch_id,
        "kind": str(job.kind),
        "label": job.label,
        "provider": job.provider,
        "state": str(job.state),
        "progress": round(job.progress, 4),
        "generation": job.generation,
        "attempts": job.attempts,
        "note": job.note,
        "error": job.error.as_dict() if job.error else None,
        "estimate": {
            "units": job.estimate_units,
            "usd": round(job.estimate_units * USD_PER_UNIT, 4),
        },
        "billed": {"units": job.billed_units, "usd": round(job.billed_units * USD_PER_UNIT, 4)},
        "tasks": [
            {
                "index": t.index,
                "state": str(t.state),
                "provider_task_id": t.provider_task_id,
                "external_id": t.external_id,
                "cached": t.cached,
                "message": t.message,
            }
            for t in job.tasks
        ],
        "result": dict(job.result) if job.result is not None else None,
        "spec": dict(job.spec),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }
