"""The scheduler: asyncio workers that walk jobs through the state machine.

The engine is the only writer of job rows while the daemon runs. Each step reads the job,
asks :func:`model.next_step` what to do, does the I/O (pipeline, provider), and commits the
resulting transition through :meth:`Engine.transition` (a per-job lock + the durable store)
before acting on it. So a crash at any instant leaves a row from which :meth:`start`'s
recovery resumes without paying twice: ``sending`` becomes ``unknown`` and is looked up by
its key, ``running`` resumes polling, ``downloading`` resumes the download.

Concurrency is limited per provider (Kling's limit is tasks in flight per account); a
provider that answers "resource pack exhausted" is *held*: its queued paid jobs wait until
a person retries one (presumably after buying credits).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import Paths, Settings
from ..providers.base import (
    ErrorKind,
    Provider,
    ProviderError,
    TaskOutput,
    TaskRequest,
    TaskStatus,
)
from ..specs import JobSpec, spec_from_dict, spec_to_dict
from . import model as m
from .cache import request_key
from .costs import check_budget, estimate_spec
from .events import EventBus
from .pipeline import JobContext, Pipeline, PipelineError
from .poller import Poller
from .store import JobStore

log = logging.getLogger("kling_bridge.engine")


class EngineError(Exception):
    def __init__(self, code: str, message: str, hint: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.status = status


@dataclass(frozen=True)
class NewJob:
    spec: JobSpec
    label: str = ""


@dataclass
class _Hold:
    error: m.JobError
    since: float


@dataclass
class _Throttle:
    """Consecutive rate-limit answers of one provider (account-wide, so engine-wide)."""

    count: int = 0
    until: float = 0.0


def _start_of_day(now: float) -> float:
    lt = time.localtime(now)
    return time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1))


_STATE_PROGRESS = {
    m.JobState.QUEUED: 0.0,
    m.JobState.PREPARING: 0.05,
    m.JobState.SUBMITTING: 0.1,
    m.JobState.RUNNING: 0.15,
    m.JobState.DOWNLOADING: 0.85,
    m.JobState.FINISHING: 0.9,
}


@dataclass
class Engine:
    store: JobStore
    providers: Mapping[str, Provider]
    pipeline: Pipeline
    settings: Settings
    paths: Paths
    clock: Callable[[], float] = time.time
    rng: Callable[[], float] = random.random
    events: EventBus = field(default_factory=EventBus)
    poll_intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._runner_provider: dict[str, str] = {}  # job id -> provider whose slot it holds
        self._sending: set[str] = set()
        self._holds: dict[str, _Hold] = {}
        self._throttles: dict[str, _Throttle] = {}
        self._requests: dict[str, list[TaskRequest]] = {}
        self._running_since: dict[str, float] = {}
        self._keys: dict[str, dict[int, str]] = {}  # job id -> task index -> cache key
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._pollers: dict[str, Poller] = {}
        self._stopping = False
        self.ready = False
        #: Called (synchronously, after the row is durable) with a job whose state changed:
        #: chains (jobs.chains) start a link's successor when it succeeds.
        self.hooks: list[Callable[[m.Job], None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Recover what a stop or crash left, then start dispatching. Returns at once."""
        self.paths.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.paths.outputs_dir.mkdir(parents=True, exist_ok=True)
        for name, provider in self.providers.items():
            lo, hi = self.poll_intervals.get(
                name, (self.settings.kling.poll_min_seconds, self.settings.kling.poll_max_seconds)
            )
            self._pollers[name] = Poller(provider, lo, hi, self.settings.kling.poll_fraction)
        active = self.store.query(states=[*m.ACTIVE], limit=1_000_000)
        for job in active:
            recovered = m.apply(job, m.Recover(), self.clock())
            if recovered != replace(job, updated_at=recovered.updated_at):
                await self.store.asave(recovered)
                log.info("recovered job %s in %s", job.id, recovered.state)
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="kb-dispatch")
        self.ready = True

    async def stop(self) -> None:
        """Stop workers. Sends in flight are left to finish (their task ids matter)."""
        self._stopping = True
        self._wake.set()
        if self._dispatcher:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        deadline = time.monotonic() + 10
        while self._sending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        runners = list(self._runners.values())
        for task in runners:
            task.cancel()
        for task in runners:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for poller in self._pollers.values():
            await poller.stop()
        self.events.close()

    # ------------------------------------------------------------------ public API

    def provider(self, name: str | None) -> Provider:
        key = name or self.settings.provider
        if key not in self.providers:
            raise EngineError(
                "unknown_provider",
                f"provider '{key}' is not configured",
                f"use one of: {', '.join(sorted(self.providers))}",
            )
        return self.providers[key]

    def estimate(self, specs: Sequence[JobSpec], provider: str | None = None) -> float:
        prov = self.provider(provider)
        return round(sum(estimate_spec(s, prov).units for s in specs), 6)

    async def submit(
        self,
        kind: m.JobKind,
        new_jobs: Sequence[NewJob],
        *,
        provider: str | None = None,
        request: Mapping[str, Any] | None = None,
    ) -> tuple[str, list[m.Job]]:
        """Create a batch of jobs of one kind (one transaction)."""
        return await self.submit_mixed(
            [(kind, j) for j in new_jobs], provider=provider, request=request
        )

    async def submit_mixed(
        self,
        items: Sequence[tuple[m.JobKind, NewJob]],
        *,
        provider: str | None = None,
        request: Mapping[str, Any] | None = None,
    ) -> tuple[str, list[m.Job]]:
        """Create a batch (restyles plus the B-roll its markers ask for) in one transaction.

        Budget caps and a provider hold refuse the whole batch before anything is stored.
        """
        if not items:
            raise EngineError("empty_batch", "nothing to do: the request selects no work")
        prov = self.provider(provider)
        now = self.clock()
        batch_id = m.new_id("b", now)
        build = functools.partial(_new_jobs, items, prov, batch_id, now)
        # A thousand-job batch takes a noticeable slice of CPU to build: not on the loop.
        jobs = await asyncio.to_thread(build) if len(items) > _INLINE_BUILD else build()
        if prov.capabilities.paid:
            hold = self._holds.get(prov.name)
            if hold:
                raise EngineError(hold.error.code, hold.error.message, hold.error.hint, status=402)
            total = sum(j.estimate_units for j in jobs)
            self._check_budget(max(j.estimate_units for j in jobs), total)
        kinds = {str(k) for k, _ in items}
        kind_name = kinds.pop() if len(kinds) == 1 else "mixed"
        await self.store.acreate_batch(batch_id, kind_name, dict(request or {}), jobs)
        if self.events.subscribers:
            for job in jobs:
                self.events.publish("job", m.job_summary(job))
        self._wake.set()
        return batch_id, jobs

    async def cancel(self, job_id: str) -> m.Job:
        """Stop tracking the job. Sent tasks stay paid (no cancel exists at Kling)."""
        job = await self.transition(job_id, m.Cancel())
        runner = self._runners.get(job_id)
        if runner and job_id not in self._sending:
            runner.cancel()
        # Providers that published the job's inputs (Kling's media hosting) take them down now.
        forget = getattr(self.provider(job.provider), "forget", None)
        if forget is not None:
            for task in job.tasks:
                with contextlib.suppress(Exception):
                    await forget(task.external_id)
        self._wake.set()
        return job

    async def retry(self, job_id: str) -> m.Job:
        job = self._get(job_id)
        if job.state is m.JobState.FAILED and job.error and job.error.code == "quota":
            self._holds.pop(job.provider, None)
        elif job.provider in self._holds and job.state in m.RETRYABLE_STATES:
            # The user acts on the provider again: presume the credits were topped up.
            self._holds.pop(job.provider, None)
        job = await self.transition(job_id, m.Retry())
        self._wake.set()
        return job

    def holds(self) -> dict[str, dict[str, str]]:
        return {name: h.error.as_dict() for name, h in self._holds.items()}

    # ------------------------------------------------------------------ transitions

    def _get(self, job_id: str) -> m.Job:
        job = self.store.get(job_id)
        if job is None:
            raise EngineError("not_found", f"no job {job_id}", "list jobs with GET /v1/jobs", 404)
        return job

    async def transition(self, job_id: str, event: m.Event) -> m.Job:
        """Apply ``event`` and make it durable before returning. Serialised per job."""
        lock = self._locks.setdefault(job_id, asyncio.Lock())
        async with lock:
            job = self._get(job_id)
            try:
                new = m.apply(job, event, self.clock())
            except m.IllegalTransition as exc:
                raise EngineError(
                    "illegal_transition", str(exc), "reload the job and try again", 409
                ) from exc
            if isinstance(event, m.Progress) or new.state != job.state:
                new = replace(new, progress=max(new.progress, _STATE_PROGRESS.get(new.state, 1.0)))
            await self.store.asave(new)
        if self.events.subscribers:  # a summary per transition costs; only for listeners
            self.events.publish("job", m.job_summary(new))
        if new.state != job.state:
            for hook in self.hooks:
                try:
                    hook(new)
                except Exception:  # a listener's bug must not undo a durable transition
                    log.exception("job hook failed for %s", new.id)
        return new

    def wake(self) -> None:
        """Look at the queue now (jobs were added outside :meth:`submit`: a chain's link)."""
        self._wake.set()

    # ------------------------------------------------------------------ dispatch

    async def _dispatch_loop(self) -> None:
        """Start runners for active jobs (after recovery) and queued jobs, within limits."""
        for job in self.store.query(states=[*m.ACTIVE], limit=1_000_000):
            self._spawn(job.id)
        while not self._stopping:
            self._wake.clear()
            now = self.clock()
            wake_in = 5.0
            for name in self.providers:
                if name in self._holds and self.providers[name].capabilities.paid:
                    continue
                limit = self.settings.queue.concurrency.get(name, 2)
                active = sum(1 for p in self._runner_provider.values() if p == name)
                free = limit - active
                if free <= 0:
                    continue  # a finishing runner wakes us; no need to read the queue now
                started = self.store.next_queued(name, free, now, set(self._runners))
                for job in started:
                    self._spawn(job.id, name)
                if len(started) < free:  # slots left: wake when a backed-off job is due
                    nxt = self.store.earliest_queued_wake(name)
                    if nxt is not None and nxt > now:
                        wake_in = min(wake_in, nxt - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, wake_in))

    def _spawn(self, job_id: str, provider: str | None = None) -> None:
        if job_id in self._runners:
            return
        if provider is None:
            job = self.store.get(job_id)
            provider = job.provider if job else ""
        task = asyncio.create_task(self._run(job_id), name=f"kb-job-{job_id}")
        self._runners[job_id] = task
        self._runner_provider[job_id] = provider

        def done(_: asyncio.Task[None]) -> None:
            self._runners.pop(job_id, None)
            self._runner_provider.pop(job_id, None)
            self._requests.pop(job_id, None)
            self._running_since.pop(job_id, None)
            self._keys.pop(job_id, None)
            self._wake.set()

        task.add_done_callback(done)

    # ------------------------------------------------------------------ one job

    async def _run(self, job_id: str) -> None:
        try:
            while not self._stopping:
                job = self._get(job_id)
                if job.state not in m.ACTIVE and job.state is not m.JobState.QUEUED:
                    return
                wait = job.not_before - self.clock()
                if wait > 0:
                    if job.state is m.JobState.QUEUED:
                        return  # the dispatcher picks it up again when the time comes
                    await asyncio.sleep(wait)
                step = m.next_step(job)
                if job.state is m.JobState.QUEUED:
                    await self.transition(job_id, m.Start())
                    continue
                await self._do(step, job)
        except asyncio.CancelledError:
            raise
        except EngineError as exc:
            if exc.code != "illegal_transition":
                log.error("job %s: %s", job_id, exc.message)
            # illegal_transition: the job was cancelled or changed under us: stop quietly
        except Exception as exc:  # a bug: fail the job visibly rather than loop
            log.exception("job %s crashed in the engine", job_id)
            await self._fail_safely(
                job_id,
                "internal",
                f"internal error: {exc}",
                "this is a bug in kling-bridge; the log has details",
            )

    async def _do(self, step: str, job: m.Job) -> None:
        handlers: dict[str, Callable[[m.Job], Awaitable[None]]] = {
            "prepare": self._prepare,
            "send": self._send,
            "lookup": self._lookup,
            "submitted": lambda j: self._simple(j, m.Submitted()),
            "poll": self._poll,
            "tasks_done": lambda j: self._simple(j, m.TasksDone()),
            "fail": self._fail_from_tasks,
            "fetch": self._fetch,
            "downloaded": self._downloaded,
            "finish": self._finish,
        }
        await handlers[step](job)

    async def _simple(self, job: m.Job, event: m.Event) -> None:
        await self.transition(job.id, event)

    def _context(self, job: m.Job) -> JobContext:
        workdir = self.paths.jobs_dir / job.id
        outputs = self.paths.outputs_dir / job.batch_id
        workdir.mkdir(parents=True, exist_ok=True)
        outputs.mkdir(parents=True, exist_ok=True)
        spec = spec_from_dict(str(job.kind), dict(job.spec))
        return JobContext(
            job.id, str(job.kind), spec, workdir, outputs, self.provider(job.provider)
        )

    async def _requests_for(self, job: m.Job) -> list[TaskRequest]:
        cached = self._requests.get(job.id)
        if cached is None:
            cached = list(await self.pipeline.prepare(self._context(job)))
            self._requests[job.id] = cached
        return cached

    async def _prepare(self, job: m.Job) -> None:
        provider = self.provider(job.provider)
        try:
            requests = await self._requests_for(job)
            for req in requests:
                # Validation may probe media (ffprobe): keep it off the event loop.
                await asyncio.to_thread(provider.validate, req)
        except PipelineError as exc:
            await self.transition(job.id, m.Fail(m.JobError(exc.code, exc.message, exc.hint)))
            return
        except ProviderError as exc:
            await self.transition(job.id, m.Fail(_error_of(exc)))
            return
        units = round(sum(provider.estimate(r).units for r in requests), 6)
        if provider.capabilities.paid and not any(t.sends for t in job.tasks):
            try:
                self._check_budget(units, units)
            except EngineError as exc:
                await self.transition(job.id, m.Fail(m.JobError(exc.code, exc.message, exc.hint)))
                return
        await self.transition(job.id, m.Prepared(len(requests), units))

    def _check_budget(self, largest_job: float, total: float) -> None:
        budget = self.settings.budget
        verdict = check_budget(
            largest_job,
            per_job=budget.per_job_units,
            per_day=None,
            committed_today=0.0,
        )
        if verdict.ok and budget.per_day_units is not None:
            verdict = check_budget(
                total,
                per_job=None,
                per_day=budget.per_day_units,
                committed_today=self.store.committed_units_since(_start_of_day(self.clock())),
            )
        if not verdict.ok:
            raise EngineError("budget", verdict.message, verdict.hint, status=402)

    async def _send(self, job: m.Job) -> None:
        provider = self.provider(job.provider)
        requests = await self._requests_for(job)
        for task in job.tasks:
            if task.state is not m.TaskState.PENDING:
                continue
            req = requests[task.index]
            key = await self._key(job.id, task.index, provider.name, req)
            files = self.store.get_cache(key)
            if files and all(Path(f).exists() for f in files):
                await self.transition(job.id, m.CacheHit(task.index, tuple(files)))
                continue
            if provider.capabilities.paid and provider.name in self._holds:
                hold = self._holds[provider.name]
                await self.transition(job.id, m.Fail(hold.error))
                return
            throttle = self._throttles.get(provider.name)
            if throttle and throttle.until > self.clock():
                await self.transition(
                    job.id,
                    m.Backoff(
                        throttle.until,
                        "waiting for a free slot at the provider",
                        spend_attempt=False,
                        requeue=True,
                    ),
                )
                return
            where = _locate(provider, req)
            # Durable before paying: the key, and where the task will live.
            await self.transition(job.id, m.SendIntent(task.index, where))
            self._sending.add(job.id)
            try:
                try:
                    pid = await provider.submit(req, task.external_id)
                except ProviderError as exc:
                    err: ProviderError = exc
                except Exception as exc:  # dropped connection etc.: it may have been created
                    err = ProviderError(
                        ErrorKind.CONNECTION, f"create failed: {exc}", maybe_created=True
                    )
                else:
                    await self.transition(job.id, m.SendAccepted(task.index, pid))
                    self._throttles.pop(provider.name, None)
                    continue
                created = err.maybe_created or err.kind is ErrorKind.DUPLICATE
                if not created:
                    # Refused, nothing created (1302/1303, a 4xx, a refused connection):
                    # the same key goes again later -- a duplicate would be refused.
                    await self.transition(job.id, m.SendRefused(task.index, err.message))
                else:
                    await self.transition(job.id, m.SendFailed(task.index, err.message))
            finally:
                self._sending.discard(job.id)
            if not created:
                await self._after_refusal(job.id, err)
                return
            found = await self._resolve_unknown(job.id, task.index, task.external_id, err)
            if found is None:
                return  # still unknown: backed off or handed to a person
            if not found:
                await self._after_refusal(job.id, err)
                return

    async def _key(self, job_id: str, index: int, provider: str, request: TaskRequest) -> str:
        """The result-cache key of a request (hashes its inputs: once per job run)."""
        keys = self._keys.setdefault(job_id, {})
        if index not in keys:
            keys[index] = await asyncio.to_thread(request_key, provider, request)
        return keys[index]

    async def _lookup(self, job: m.Job) -> None:
        for task in job.tasks:
            if task.state in (m.TaskState.UNKNOWN, m.TaskState.SENDING):
                found = await self._resolve_unknown(job.id, task.index, task.external_id, None)
                if found is None:
                    return

    async def _resolve_unknown(
        self, job_id: str, index: int, key: str, cause: ProviderError | None
    ) -> bool | None:
        """Look a task up by its key, where it was created. True: it exists; False: proven
        absent; None: still unknown (looked up again later, or handed to a person)."""
        job = self._get(job_id)
        provider = self.provider(job.provider)
        where = job.tasks[index].where
        try:
            found = await provider.lookup([key], where)
        except Exception as exc:
            await self._look_again_later(job_id, index, f"the lookup failed ({exc})")
            return None
        status = found.get(key)
        if status is not None:
            await self.transition(job_id, m.LookupFound(index, status.task_id))
            return True
        if cause is not None and cause.kind is ErrorKind.DUPLICATE:
            # The provider says the key is taken, yet cannot find it: never send again.
            await self._look_again_later(
                job_id, index, f"{provider.name} rejects the key as a duplicate but lists no "
                "such task yet")
            return None
        await self.transition(job_id, m.LookupAbsent(index))
        return False

    async def _look_again_later(self, job_id: str, index: int, why: str) -> None:
        """A task's fate is unknown and the lookup could not settle it: look again with
        backoff (a share of how long it has been unknown, up to ``queue.backoff_cap``) for
        ``queue.lookup_patience_seconds`` (6 h by default) -- outages of the provider's
        API are usually shorter -- then ask a person, saying what they can do. No attempt
        is spent: a later, unrelated retry keeps its full budget."""
        job = self._get(job_id)
        task = job.tasks[index]
        q = self.settings.queue
        now = self.clock()
        unknown_for = max(0.0, now - (task.unknown_since or now))
        patience = q.lookup_patience_seconds
        key = task.external_id
        if unknown_for >= patience:
            await self.transition(job_id, m.Attention(m.JobError(
                "unresolved",
                f"a create was sent to {job.provider} and whether it made a task is still "
                f"unknown after {_duration(unknown_for)} of lookups by its key {key}: {why}",
                f"check the network and {job.provider}'s status; `kling-bridge retry {job.id}` "
                f"looks again for another {_duration(patience)} (a task found is followed and "
                "never paid twice); if the provider's task list shows no task with id "
                f"{key}, nothing was paid; `kling-bridge cancel {job.id}` stops tracking it",
            )))
            return
        delay = m.lookup_delay(unknown_for, q.backoff_base, q.backoff_cap, self.rng())
        left = patience - unknown_for
        await self.transition(job_id, m.Backoff(
            now + delay,
            f"cannot tell yet whether task {key} exists: {why}; looking again in "
            f"{delay:.0f} s (for up to {_duration(left)} more)",
            spend_attempt=False,
        ))

    async def _after_refusal(self, job_id: str, err: ProviderError) -> None:
        """The create was refused and nothing was created: decide what happens next."""
        job = self._get(job_id)
        if job.state is not m.JobState.SUBMITTING:
            return
        if err.kind is ErrorKind.RATE_LIMIT:
            t = self._throttles.setdefault(job.provider, _Throttle())
            t.count += 1
            delay = max(
                1.0,
                err.retry_after or 0.0,
                m.backoff_delay(t.count, 1.0, self.settings.queue.backoff_cap, self.rng()),
            )
            t.until = self.clock() + delay
            await self.transition(
                job_id,
                m.Backoff(
                    t.until,
                    f"provider busy ({err.message}); retrying in {delay:.0f}s",
                    spend_attempt=False,
                    requeue=not _any_sent(job),
                ),
            )
            return
        if err.kind is ErrorKind.QUOTA:
            self._holds[job.provider] = _Hold(_error_of(err), self.clock())
        if err.retryable:
            await self._backoff_or_fail(job, err)
            return
        await self.transition(job_id, m.Fail(_error_of(err)))

    async def _backoff_or_fail(self, job: m.Job, err: ProviderError) -> None:
        q = self.settings.queue
        if job.attempts + 1 >= q.max_attempts:
            await self.transition(job.id, m.Fail(_error_of(err, gave_up=job.attempts + 1)))
            return
        delay = m.backoff_delay(job.attempts + 1, q.backoff_base, q.backoff_cap, self.rng())
        await self.transition(
            job.id, m.Backoff(self.clock() + delay, f"{err.message}; retrying in {delay:.0f}s")
        )

    async def _backoff_or_attention(self, job: m.Job, reason: str, error: m.JobError) -> None:
        q = self.settings.queue
        if job.attempts + 1 >= q.max_attempts:
            await self.transition(job.id, m.Attention(error))
            return
        delay = m.backoff_delay(job.attempts + 1, q.backoff_base, q.backoff_cap, self.rng())
        await self.transition(job.id, m.Backoff(self.clock() + delay, reason))

    async def _poll(self, job: m.Job) -> None:
        poller = self._pollers[job.provider]
        pending = [t for t in job.tasks if t.state is m.TaskState.ACCEPTED]
        limit = self.settings.kling.poll_timeout_seconds
        since = self._running_since.setdefault(job.id, time.monotonic())
        remaining = max(0.0, limit - (time.monotonic() - since))
        try:
            statuses = await poller.wait_any([t.provider_task_id or "" for t in pending], remaining)
        except TimeoutError:
            await self.transition(
                job.id,
                m.Attention(
                    m.JobError(
                        "provider_timeout",
                        f"{job.provider} has not finished after {limit / 3600:g} h",
                        "the task is paid for; retry the job to keep waiting, or cancel it",
                    )
                ),
            )
            return
        for task in pending:
            st = statuses.get(task.provider_task_id or "")
            if st is None:
                continue
            await self.transition(job.id, _update_of(task.index, st))
        job = self._get(job.id)
        done = sum(1 for t in job.tasks if t.state is not m.TaskState.ACCEPTED)
        await self.transition(job.id, m.Progress(0.15 + 0.7 * done / max(1, len(job.tasks))))

    async def _fail_from_tasks(self, job: m.Job) -> None:
        failed = [t for t in job.tasks if t.state is m.TaskState.FAILED]
        reason = "; ".join(t.message for t in failed if t.message) or "no reason given"
        await self.transition(
            job.id,
            m.Fail(
                m.JobError(
                    "provider_failed",
                    f"{job.provider} failed the task: {reason}",
                    "adjust the prompt or the clip and retry; finished segments are kept",
                )
            ),
        )

    async def _fetch(self, job: m.Job) -> None:
        provider = self.provider(job.provider)
        workdir = self.paths.jobs_dir / job.id / "fetched"
        workdir.mkdir(parents=True, exist_ok=True)
        for task in job.tasks:
            if task.state is not m.TaskState.DONE:
                continue
            files: list[str] = []
            try:
                for n, out in enumerate(task.outputs):
                    output = _output_of(out)
                    suffix = ".mp4" if output.kind == "video" else ".bin"
                    dest = workdir / f"task{task.index}-g{task.generation}-{n}{suffix}"
                    if not dest.exists():
                        dest = await provider.fetch(output, dest)
                    files.append(str(dest))
            except ProviderError as exc:
                if exc.retryable:
                    await self._backoff_or_attention(
                        job,
                        f"download failed: {exc.message}",
                        m.JobError(
                            "download_failed",
                            f"the outputs of a paid task cannot be downloaded: {exc}",
                            "retry the job to try the download again (no new charge)",
                        ),
                    )
                else:
                    await self.transition(
                        job.id,
                        m.Attention(
                            m.JobError(
                                "download_failed",
                                f"the outputs of a paid task cannot be downloaded: {exc}",
                                exc.hint or "retry the job to try again (no new charge)",
                            )
                        ),
                    )
                return
            await self.transition(job.id, m.Fetched(task.index, tuple(files)))

    async def _downloaded(self, job: m.Job) -> None:
        provider = self.provider(job.provider)
        if job.id in self._requests or any(not t.cached for t in job.tasks):
            with contextlib.suppress(PipelineError, OSError, ProviderError):
                requests = await self._requests_for(job)
                for task in job.tasks:
                    if task.cached or task.index >= len(requests):
                        continue
                    key = await self._key(job.id, task.index, provider.name,
                                          requests[task.index])
                    await self.store.aput_cache(key, task.files, job.id)
        await self.transition(job.id, m.Downloaded())

    async def _finish(self, job: m.Job) -> None:
        ctx = self._context(job)
        try:
            fetched = [[Path(f) for f in t.files] for t in job.tasks]
            result = await self.pipeline.finish(ctx, fetched)
        except PipelineError as exc:
            await self.transition(job.id, m.Fail(m.JobError(exc.code, exc.message, exc.hint)))
            return
        await self.transition(job.id, m.Finished(result.to_dict()))

    async def _fail_safely(self, job_id: str, code: str, message: str, hint: str) -> None:
        job = self.store.get(job_id)
        if job is None or job.terminal:
            return
        event: m.Event = m.Fail(m.JobError(code, message, hint))
        if any(t.state in (m.TaskState.UNKNOWN, m.TaskState.SENDING) for t in job.tasks):
            event = m.Attention(m.JobError(code, message, hint))
        with contextlib.suppress(EngineError):
            await self.transition(job_id, event)

    def purge_workdir(self, job_id: str) -> None:
        shutil.rmtree(self.paths.jobs_dir / job_id, ignore_errors=True)


def _locate(provider: Provider, request: TaskRequest) -> str:
    """The provider's word for where the task will live ('' for providers without one)."""
    locate = getattr(provider, "locate", None)
    return str(locate(request)) if locate is not None else ""


def _duration(seconds: float) -> str:
    """``5400`` -> ``"1 h 30 min"``: for messages people read."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h" + (f" {minutes} min" if minutes else "")
_INLINE_BUILD = 64


def _new_jobs(items: Sequence[tuple[m.JobKind, NewJob]], prov: Provider, batch_id: str,
              now: float) -> list[m.Job]:
    ids = m.new_ids("j", len(items), now)
    return [
        m.Job(
            id=job_id,
            batch_id=batch_id,
            kind=kind,
            provider=prov.name,
            spec=spec_to_dict(item.spec),
            estimate_units=estimate_spec(item.spec, prov).units,
            created_at=now,
            updated_at=now,
            label=item.label,
        )
        for job_id, (kind, item) in zip(ids, items, strict=True)
    ]


def _any_sent(job: m.Job) -> bool:
    return any(t.state in m.PAID_TASK_STATES and not t.cached for t in job.tasks)


def _error_of(exc: ProviderError, gave_up: int | None = None) -> m.JobError:
    message = exc.message
    if gave_up:
        message = f"{message} (gave up after {gave_up} attempts)"
    code = str(exc.kind) if exc.code is None else f"{exc.kind}:{exc.code}"
    if exc.kind is ErrorKind.QUOTA:
        code = "quota"
    return m.JobError(code, message, exc.hint)


def _update_of(index: int, st: TaskStatus) -> m.TaskUpdate:
    return m.TaskUpdate(
        index=index,
        done=st.done,
        succeeded=st.phase.value == "succeeded",
        message=st.message,
        outputs=tuple(
            {"url": o.url, "output_id": o.output_id, "duration": o.duration, "kind": o.kind}
            for o in st.outputs
        ),
        billed_units=st.billed.units if st.billed is not None else None,
    )


def _output_of(data: Mapping[str, Any]) -> TaskOutput:
    return TaskOutput(
        url=data["url"],
        output_id=data.get("output_id", ""),
        duration=data.get("duration"),
        kind=data.get("kind", "video"),
    )
