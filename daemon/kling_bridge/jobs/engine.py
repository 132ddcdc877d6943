"""The scheduler: asyncio workers that walk jobs through the state machine.

The engine is the only writer of job rows while the daemon runs. Each step reads the job,
asks :func:`model.next_step` what to do, does the I/O (pipeline, provider: the steps live in
:mod:`.steps`), and commits the resulting transition through :meth:`Engine.transition` (a
per-job lock + the durable store) before acting on it. So a crash at any instant leaves a
row from which :meth:`start`'s recovery resumes without paying twice: ``sending`` becomes
``unknown`` and is looked up by its key, ``running`` resumes polling, ``downloading``
resumes the download.

Concurrency is limited per provider (Kling's limit is tasks in flight per account); a
provider that answers "resource pack exhausted" is *held*: its queued paid jobs wait until
a person retries one (presumably after buying credits). The rules of holds, throttles,
caps and pacing are :mod:`.budget`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import Paths, Settings
from ..providers.base import Provider
from ..specs import JobSpec, spec_to_dict
from ..waiting import wait_event
from . import model as m
from .budget import Hold, Throttle, check_caps, start_of_day
from .costs import estimate_spec
from .events import EventBus
from .pipeline import Pipeline
from .poller import Poller
from .steps import EngineError, JobSteps, Run
from .store import JobStore

__all__ = ["Engine", "EngineError", "NewJob"]

log = logging.getLogger("kling_bridge.engine")


@dataclass(frozen=True)
class NewJob:
    spec: JobSpec
    label: str = ""


#: The least progress a job shows in each state (the bar moves on every state change).
_STATE_PROGRESS = {
    m.JobState.QUEUED: 0.0,
    m.JobState.PREPARING: 0.05,
    m.JobState.SUBMITTING: 0.1,
    m.JobState.RUNNING: 0.15,
    m.JobState.DOWNLOADING: 0.85,
    m.JobState.FINISHING: 0.9,
}
_INLINE_BUILD = 64  # batches larger than this are built off the event loop


@dataclass
class Engine(JobSteps):
    store: JobStore
    providers: Mapping[str, Provider]
    pipeline: Pipeline
    settings: Settings
    paths: Paths
    clock: Callable[[], float] = time.time
    rng: Callable[[], float] = random.random
    events: EventBus = field(default_factory=EventBus)
    poll_intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    #: Shortest wait after a rate-limit answer (1302/1303), in seconds; tests lower it.
    throttle_floor: float = 1.0

    def __post_init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}  # job id -> its transition lock
        self._runs: dict[str, Run] = {}  # job id -> its runner and what it remembers
        self._sending: set[str] = set()  # job ids with a paid create call under way
        self._holds: dict[str, Hold] = {}  # provider -> out of credits
        self._throttles: dict[str, Throttle] = {}  # provider -> rate limited until
        self._pollers: dict[str, Poller] = {}
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
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
        runners = [run.task for run in self._runs.values()]
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
                self.events.publish("job", job)
        self._wake.set()
        return batch_id, jobs

    async def cancel(self, job_id: str) -> m.Job:
        """Stop tracking the job. Sent tasks stay paid (no cancel exists at Kling)."""
        job = await self.transition(job_id, m.Cancel())
        run = self._runs.get(job_id)
        if run and job_id not in self._sending:
            run.task.cancel()
        # Providers that published the job's inputs (Kling's media hosting) take them down now.
        provider = self.provider(job.provider)
        for task in job.tasks:
            try:
                await provider.forget(task.external_id)
            except Exception as exc:  # the cancel stands; the links expire on their own
                log.warning("job %s: %s could not forget task %s: %s", job_id, provider.name,
                            task.external_id, exc)
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

    def purge_workdir(self, job_id: str) -> None:
        shutil.rmtree(self.paths.jobs_dir / job_id, ignore_errors=True)

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
        if self.events.subscribers:  # nothing to do without listeners
            self.events.publish("job", new)
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

    def _check_budget(self, largest_job: float, total: float) -> None:
        budget = self.settings.budget
        committed = (self.store.committed_units_since(start_of_day(self.clock()))
                     if budget.per_day_units is not None else 0.0)
        verdict = check_caps(largest_job, total, per_job=budget.per_job_units,
                             per_day=budget.per_day_units, committed_today=committed)
        if not verdict.ok:
            raise EngineError("budget", verdict.message, verdict.hint, status=402)

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
                free = limit - sum(1 for run in self._runs.values() if run.provider == name)
                if free <= 0:
                    continue  # a finishing runner wakes us; no need to read the queue now
                started = self.store.next_queued(name, free, now, set(self._runs))
                for job in started:
                    self._spawn(job.id, name)
                if len(started) < free:  # slots left: wake when a backed-off job is due
                    nxt = self.store.earliest_queued_wake(name)
                    if nxt is not None and nxt > now:
                        wake_in = min(wake_in, nxt - now)
            await wait_event(self._wake, max(0.01, wake_in))

    def _spawn(self, job_id: str, provider: str | None = None) -> None:
        if job_id in self._runs:
            return
        if provider is None:
            job = self.store.get(job_id)
            provider = job.provider if job else ""
        task = asyncio.create_task(self._run(job_id), name=f"kb-job-{job_id}")
        self._runs[job_id] = Run(task, provider)

        def done(_: asyncio.Task[None]) -> None:
            self._runs.pop(job_id, None)
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
                if job.state is m.JobState.QUEUED:
                    await self.transition(job_id, m.Start())
                    continue
                await self.step(m.next_step(job), job)
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
