"""The job state machine: one pure function decides what every event means.

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

Each event has one rule below (registered by :func:`_rule`); :func:`apply` looks it up.
:func:`next_step` tells the engine what to do with a job as it stands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

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
    PAID_TASK_STATES,
    RETRYABLE_STATES,
    TERMINAL,
    Job,
    JobState,
    Task,
    TaskState,
    external_id,
)

# A send's outcome is recorded even after a cancel: the task is paid for, keep its id.
_SEND_BOOKKEEPING = frozenset({JobState.SUBMITTING, JobState.CANCELLED})
_LOOKUP_STATES = frozenset({JobState.SUBMITTING, JobState.NEEDS_ATTENTION, JobState.CANCELLED})
_REQUEUABLE = frozenset({JobState.PREPARING, JobState.SUBMITTING})


class IllegalTransition(Exception):
    def __init__(self, job: Job, event: Event, why: str) -> None:
        super().__init__(f"job {job.id} in {job.state}: {type(event).__name__} refused: {why}")
        self.job = job
        self.event = event
        self.why = why


def apply(job: Job, event: Event, now: float) -> Job:
    """The one place that decides what is legal. Returns a new job; never mutates."""
    rule = _RULES.get(type(event))
    if rule is None:  # pragma: no cover - every event type has a rule
        raise IllegalTransition(job, event, "unknown event")
    return replace(rule(job, event, now), updated_at=now)


# ---------------------------------------------------------------- helpers

E = TypeVar("E")
_RULES: dict[type, Callable[[Job, Any, float], Job]] = {}


def _rule(kind: type[E]) -> Callable[[Callable[[Job, E, float], Job]],
                                      Callable[[Job, E, float], Job]]:
    def register(fn: Callable[[Job, E, float], Job]) -> Callable[[Job, E, float], Job]:
        _RULES[kind] = fn
        return fn
    return register


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
    _require(job, event, task.state in states,
             f"task {index} is {task.state}, needs {'/'.join(states)}")
    return task


def _in_flight(job: Job) -> bool:
    """A create call under way: its outcome is unknown until answered."""
    return any(t.state is TaskState.SENDING for t in job.tasks)


def _spent_note(job: Job) -> str:
    sent = sum(1 for t in job.tasks if t.sends and not t.cached)
    if not sent:
        return ""
    units = job.billed_units or job.estimate_units
    return (
        f"{sent} task(s) were already sent to {job.provider}; there is no cancel "
        f"endpoint, so those credits (about {units:g} units) are spent"
    )


# ---------------------------------------------------------------- preparing


@_rule(Start)
def _start(job: Job, event: Start, now: float) -> Job:
    _require(job, event, job.state is JobState.QUEUED, "only a queued job starts")
    return replace(job, state=JobState.PREPARING, error=None)


@_rule(Prepared)
def _prepared(job: Job, event: Prepared, now: float) -> Job:
    _require(job, event, job.state is JobState.PREPARING, "not preparing")
    _require(job, event, event.count >= 1, "a job needs at least one task")
    tasks = job.tasks
    if len(tasks) != event.count:
        # The first preparation, or the plan changed before anything was sent.
        _require(job, event, not any(t.sends for t in tasks), "tasks already sent")
        tasks = tuple(Task(i, job.generation, external_id(job.id, i, job.generation))
                      for i in range(event.count))
    return replace(job, state=JobState.SUBMITTING, tasks=tasks,
                   estimate_units=event.estimate_units)


@_rule(CacheHit)
def _cache_hit(job: Job, event: CacheHit, now: float) -> Job:
    _require(job, event, job.state is JobState.SUBMITTING, "not submitting")
    _task_in(job, event, event.index, TaskState.PENDING)
    return replace(job, tasks=_with_task(job, event.index, state=TaskState.FETCHED,
                                         files=event.files, cached=True, billed_units=0.0))


# ---------------------------------------------------------------- sending and looking up


@_rule(SendIntent)
def _send_intent(job: Job, event: SendIntent, now: float) -> Job:
    _require(job, event, job.state is JobState.SUBMITTING, "not submitting")
    task = _task_in(job, event, event.index, TaskState.PENDING)
    _require(job, event, task.sends == task.cleared,
             "a task may exist under this key: look it up first")
    return replace(
        job,
        tasks=_with_task(job, event.index, state=TaskState.SENDING, sends=task.sends + 1,
                         where=event.where or task.where),
        committed_at=job.committed_at or now,
    )


@_rule(SendAccepted)
def _send_accepted(job: Job, event: SendAccepted, now: float) -> Job:
    _require(job, event, job.state in _SEND_BOOKKEEPING, "not submitting")
    _task_in(job, event, event.index, TaskState.SENDING, TaskState.UNKNOWN)
    return replace(job, tasks=_with_task(job, event.index, state=TaskState.ACCEPTED,
                                         provider_task_id=event.provider_task_id))


@_rule(SendFailed)
def _send_failed(job: Job, event: SendFailed, now: float) -> Job:
    _require(job, event, job.state in _SEND_BOOKKEEPING, "not submitting")
    _task_in(job, event, event.index, TaskState.SENDING)
    return replace(job, tasks=_with_task(job, event.index, state=TaskState.UNKNOWN,
                                         message=event.message, unknown_since=now))


@_rule(SendRefused)
def _send_refused(job: Job, event: SendRefused, now: float) -> Job:
    _require(job, event, job.state in _SEND_BOOKKEEPING, "not submitting")
    task = _task_in(job, event, event.index, TaskState.SENDING)
    # Nothing was created: the key is clear to send again (a duplicate is refused).
    return replace(job, tasks=_with_task(job, event.index, state=TaskState.PENDING,
                                         message=event.message, cleared=task.sends))


@_rule(LookupFound)
def _lookup_found(job: Job, event: LookupFound, now: float) -> Job:
    _require(job, event, job.state in _LOOKUP_STATES, "not looking tasks up")
    _task_in(job, event, event.index, TaskState.UNKNOWN)
    return replace(job, tasks=_with_task(job, event.index, state=TaskState.ACCEPTED,
                                         provider_task_id=event.provider_task_id))


@_rule(LookupAbsent)
def _lookup_absent(job: Job, event: LookupAbsent, now: float) -> Job:
    _require(job, event, job.state in _LOOKUP_STATES, "not looking tasks up")
    task = _task_in(job, event, event.index, TaskState.UNKNOWN)
    return replace(job, tasks=_with_task(job, event.index, state=TaskState.PENDING,
                                         cleared=task.sends, unknown_since=0.0))


@_rule(Submitted)
def _submitted(job: Job, event: Submitted, now: float) -> Job:
    _require(job, event, job.state is JobState.SUBMITTING, "not submitting")
    _require(job, event, all(t.state in PAID_TASK_STATES or t.cached for t in job.tasks),
             "some task is not yet held by the provider")
    return replace(job, state=JobState.RUNNING, not_before=0.0)


# ---------------------------------------------------------------- running and finishing


@_rule(TaskUpdate)
def _task_update(job: Job, event: TaskUpdate, now: float) -> Job:
    _require(job, event, job.state is JobState.RUNNING, "not running")
    task = _task_in(job, event, event.index, TaskState.ACCEPTED)
    if not event.done:
        return replace(job, tasks=_with_task(job, event.index, message=event.message))
    state = TaskState.DONE if event.succeeded else TaskState.FAILED
    billed = event.billed_units if event.billed_units is not None else task.billed_units
    return replace(job, tasks=_with_task(job, event.index, state=state, message=event.message,
                                         outputs=event.outputs, billed_units=billed))


@_rule(TasksDone)
def _tasks_done(job: Job, event: TasksDone, now: float) -> Job:
    _require(job, event, job.state is JobState.RUNNING, "not running")
    _require(job, event,
             all(t.state in (TaskState.DONE, TaskState.FETCHED) for t in job.tasks),
             "some task is not done")
    return replace(job, state=JobState.DOWNLOADING)


@_rule(Fetched)
def _fetched(job: Job, event: Fetched, now: float) -> Job:
    _require(job, event, job.state is JobState.DOWNLOADING, "not downloading")
    _task_in(job, event, event.index, TaskState.DONE)
    return replace(job, tasks=_with_task(job, event.index, state=TaskState.FETCHED,
                                         files=event.files))


@_rule(Downloaded)
def _downloaded(job: Job, event: Downloaded, now: float) -> Job:
    _require(job, event, job.state is JobState.DOWNLOADING, "not downloading")
    _require(job, event, all(t.state is TaskState.FETCHED for t in job.tasks),
             "some output is not fetched")
    return replace(job, state=JobState.FINISHING)


@_rule(Finished)
def _finished(job: Job, event: Finished, now: float) -> Job:
    _require(job, event, job.state is JobState.FINISHING, "not finishing")
    return replace(job, state=JobState.SUCCEEDED, result=dict(event.result), progress=1.0,
                   error=None)


# ---------------------------------------------------------------- waiting, failing, people


@_rule(Backoff)
def _backoff(job: Job, event: Backoff, now: float) -> Job:
    s = job.state
    _require(job, event, s in ACTIVE, "only an active job backs off")
    _require(job, event, not event.requeue or (s in _REQUEUABLE and not _in_flight(job)),
             "only a preparing or submitting job with no send in flight goes back to the queue")
    return replace(job, state=JobState.QUEUED if event.requeue else s,
                   attempts=job.attempts + (1 if event.spend_attempt else 0),
                   not_before=event.until, note=event.reason)


@_rule(Progress)
def _progress(job: Job, event: Progress, now: float) -> Job:
    _require(job, event, job.state in ACTIVE, "only an active job progresses")
    return replace(job, progress=max(0.0, min(1.0, event.value)), note=event.note or job.note)


@_rule(Fail)
def _fail(job: Job, event: Fail, now: float) -> Job:
    _require(job, event, job.state not in TERMINAL, "already ended")
    _require(job, event, not _in_flight(job), "a send is in flight: resolve it first")
    _require(job, event, not any(t.state is TaskState.UNKNOWN for t in job.tasks),
             "a task may exist at the provider: look it up, or ask a person (attention)")
    return replace(job, state=JobState.FAILED, error=event.error, note=_spent_note(job))


@_rule(Attention)
def _attention(job: Job, event: Attention, now: float) -> Job:
    _require(job, event, job.state in ACTIVE, "only active paid work needs attention")
    return replace(job, state=JobState.NEEDS_ATTENTION, error=event.error)


@_rule(Cancel)
def _cancel(job: Job, event: Cancel, now: float) -> Job:
    _require(job, event, job.state not in TERMINAL, "already ended")
    return replace(job, state=JobState.CANCELLED, note=_spent_note(job))


@_rule(Retry)
def _retry(job: Job, event: Retry, now: float) -> Job:
    _require(job, event, job.state in RETRYABLE_STATES, "only ended or unresolved jobs retry")
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
    return replace(job, state=JobState.QUEUED, generation=gen, tasks=tasks, attempts=0,
                   error=None, note="", not_before=0.0, progress=0.0)


@_rule(Recover)
def _recover(job: Job, event: Recover, now: float) -> Job:
    _require(job, event, job.state not in TERMINAL, "ended jobs need no recovery")
    tasks = tuple(
        replace(t, state=TaskState.UNKNOWN, unknown_since=t.unknown_since or now)
        if t.state in (TaskState.SENDING, TaskState.UNKNOWN) else t
        for t in job.tasks
    )
    resumed = JobState.QUEUED if job.state is JobState.PREPARING else job.state
    return replace(job, state=resumed, tasks=tasks)


# ---------------------------------------------------------------- what to do next


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
