"""What the engine does at each step of a job: prepare, send, look up, poll, fetch, finish.

:class:`JobSteps` is the half of :class:`~.engine.Engine` that acts on one job at a time:
each method reads the provider or the pipeline and commits what it learned as one
transition (:meth:`Engine.transition`) before doing anything that depends on it. The
dispatching half -- lifecycle, queue, limits, the public API -- is :mod:`.engine`; what is
legal is :mod:`.transitions`'; how long to wait and what the account allows is
:mod:`.budget`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Paths, Settings
from ..providers.base import ErrorKind, Provider, ProviderError, TaskOutput, TaskRequest, TaskStatus
from ..refusals import Refusal
from ..specs import spec_from_dict
from . import model as m
from .budget import (
    Hold,
    Throttle,
    backoff_delay,
    duration_words,
    lookup_delay,
    throttled_again,
)
from .cache import request_key
from .pipeline import JobContext, Pipeline, PipelineError
from .poller import Poller
from .store import JobStore

log = logging.getLogger("kling_bridge.engine")


class EngineError(Refusal):
    """The engine refused: a job that is not there, a transition not allowed now, a cap."""


@dataclass
class Run:
    """A job's runner while it runs, and what it remembers between steps (dropped when the
    runner ends: a restart recomputes it)."""

    task: asyncio.Task[None]
    provider: str  # whose concurrency slot it holds
    requests: list[TaskRequest] | None = None  # the prepared provider requests
    running_since: float | None = None  # monotonic: when polling began
    keys: dict[int, str] = field(default_factory=dict)  # task index -> result-cache key


class JobSteps:
    """The engine's steps (a mixin of :class:`~.engine.Engine`, which owns the state)."""

    store: JobStore
    pipeline: Pipeline
    settings: Settings
    paths: Paths
    clock: Callable[[], float]
    rng: Callable[[], float]
    _runs: dict[str, Run]
    _sending: set[str]
    _holds: dict[str, Hold]
    throttle_floor: float
    _throttles: dict[str, Throttle]
    _pollers: dict[str, Poller]

    if TYPE_CHECKING:
        def provider(self, name: str | None) -> Provider: ...
        def _get(self, job_id: str) -> m.Job: ...
        async def transition(self, job_id: str, event: m.Event) -> m.Job: ...
        def _check_budget(self, largest_job: float, total: float) -> None: ...

    async def step(self, step: str, job: m.Job) -> None:
        """Do what :func:`model.next_step` said (``job`` as it was read)."""
        handlers: dict[str, Callable[[m.Job], Awaitable[None]]] = {
            "prepare": self._prepare,
            "send": self._send,
            "lookup": self._lookup,
            "submitted": lambda j: self._commit(j, m.Submitted()),
            "poll": self._poll,
            "tasks_done": lambda j: self._commit(j, m.TasksDone()),
            "fail": self._fail_from_tasks,
            "fetch": self._fetch,
            "downloaded": self._downloaded,
            "finish": self._finish,
        }
        await handlers[step](job)

    async def _commit(self, job: m.Job, event: m.Event) -> None:
        await self.transition(job.id, event)

    def _run_of(self, job_id: str) -> Run:
        """The job's runner state (every step runs inside its job's runner)."""
        run = self._runs.get(job_id)
        if run is None:
            raise EngineError("internal", f"job {job_id} has no runner", "", 500)
        return run

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
        run = self._run_of(job.id)
        if run.requests is None:
            run.requests = list(await self.pipeline.prepare(self._context(job)))
        return run.requests

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
            where = provider.locate(req)
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
        keys = self._run_of(job_id).keys
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
                f"unknown after {duration_words(unknown_for)} of lookups by its key {key}: {why}",
                f"check the network and {job.provider}'s status; `kling-bridge retry {job.id}` "
                f"looks again for another {duration_words(patience)} (a task found is followed and "
                "never paid twice); if the provider's task list shows no task with id "
                f"{key}, nothing was paid; `kling-bridge cancel {job.id}` stops tracking it",
            )))
            return
        delay = lookup_delay(unknown_for, q.backoff_base, q.backoff_cap, self.rng())
        left = patience - unknown_for
        await self.transition(job_id, m.Backoff(
            now + delay,
            f"cannot tell yet whether task {key} exists: {why}; looking again in "
            f"{delay:.0f} s (for up to {duration_words(left)} more)",
            spend_attempt=False,
        ))

    async def _after_refusal(self, job_id: str, err: ProviderError) -> None:
        """The create was refused and nothing was created: decide what happens next."""
        job = self._get(job_id)
        if job.state is not m.JobState.SUBMITTING:
            return
        if err.kind is ErrorKind.RATE_LIMIT:
            now = self.clock()
            t = throttled_again(self._throttles.get(job.provider), err.retry_after,
                                cap=self.settings.queue.backoff_cap, jitter=self.rng(), now=now,
                                floor=self.throttle_floor)
            self._throttles[job.provider] = t
            delay = t.until - now
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
            self._holds[job.provider] = Hold(_error_of(err), self.clock())
        if err.retryable:
            await self._backoff_or_fail(job, err)
            return
        await self.transition(job_id, m.Fail(_error_of(err)))

    async def _backoff_or_fail(self, job: m.Job, err: ProviderError) -> None:
        q = self.settings.queue
        if job.attempts + 1 >= q.max_attempts:
            await self.transition(job.id, m.Fail(_error_of(err, gave_up=job.attempts + 1)))
            return
        delay = backoff_delay(job.attempts + 1, q.backoff_base, q.backoff_cap, self.rng())
        await self.transition(
            job.id, m.Backoff(self.clock() + delay, f"{err.message}; retrying in {delay:.0f}s")
        )

    async def _backoff_or_attention(self, job: m.Job, reason: str, error: m.JobError) -> None:
        q = self.settings.queue
        if job.attempts + 1 >= q.max_attempts:
            await self.transition(job.id, m.Attention(error))
            return
        delay = backoff_delay(job.attempts + 1, q.backoff_base, q.backoff_cap, self.rng())
        await self.transition(job.id, m.Backoff(self.clock() + delay, reason))

    async def _poll(self, job: m.Job) -> None:
        poller = self._pollers[job.provider]
        pending = [t for t in job.tasks if t.state is m.TaskState.ACCEPTED]
        limit = self.settings.kling.poll_timeout_seconds
        run = self._run_of(job.id)
        if run.running_since is None:
            run.running_since = time.monotonic()
        since = run.running_since
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
        if self._run_of(job.id).requests is not None or any(not t.cached for t in job.tasks):
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
