"""Hypothesis drives the pure job state machine through any order of events -- including
crashes before and after a create reaches the provider -- against a simulated provider
that, like Kling, bills every task it creates.

The invariant is the money rule: no idempotency key is ever created twice, so a job pays for
at most one task per segment per generation, and generations only grow by a user's retry.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kling_bridge.jobs import model as m

NOW = 1_700_000_000.0


class JobMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.job = m.Job(
            id=m.new_id("j", NOW),
            batch_id=m.new_id("b", NOW),
            kind=m.JobKind.RESTYLE,
            provider="kling",
            spec={},
        )
        self.created: Counter[str] = Counter()  # the provider's ledger: key -> tasks created
        self.in_flight: set[int] = set()  # creates under way in *this* process
        self.retries = 0

    def _try(self, event: m.Event) -> bool:
        try:
            self.job = m.apply(self.job, event, NOW)
        except m.IllegalTransition:
            return False
        return True

    # ------------------------------------------------------------ the engine's moves
    # Preconditions keep the generator on meaningful moves; illegal ones are still tried
    # (``_try``) so the model's own refusals are exercised too.

    def _tasks_in(self, *states: m.TaskState) -> list[int]:
        return [t.index for t in self.job.tasks if t.state in states]

    @precondition(lambda self: self.job.state is m.JobState.QUEUED)
    @rule()
    def start(self) -> None:
        self._try(m.Start())

    @precondition(lambda self: self.job.state is m.JobState.PREPARING)
    @rule(count=st.integers(1, 3))
    def prepared(self, count: int) -> None:
        self._try(m.Prepared(count, float(count)))

    @precondition(lambda self: self.job.state is m.JobState.SUBMITTING)
    @rule(data=st.data())
    def send_intent(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, max(0, len(self.job.tasks) - 1)))
        if self._try(m.SendIntent(i)):
            key = self.job.tasks[i].external_id
            # The model allowed a paid create: nothing may exist under this key.
            assert self.created[key] == 0, f"would pay twice for {key}"
            self.in_flight.add(i)

    @precondition(lambda self: bool(self.in_flight))
    @rule(data=st.data())
    def provider_accepts(self, data: st.DataObject) -> None:
        i = data.draw(st.sampled_from(sorted(self.in_flight)))
        self.in_flight.discard(i)
        task = self.job.tasks[i]
        self.created[task.external_id] += 1
        self._try(m.SendAccepted(i, f"task-{task.external_id}"))

    @precondition(lambda self: bool(self.in_flight))
    @rule(data=st.data(), created=st.booleans())
    def provider_errors(self, data: st.DataObject, created: bool) -> None:
        """A 5000 after creating, a dropped connection, or a plain refusal."""
        i = data.draw(st.sampled_from(sorted(self.in_flight)))
        self.in_flight.discard(i)
        task = self.job.tasks[i]
        if created:
            self.created[task.external_id] += 1
        self._try(m.SendFailed(i, "error"))

    @precondition(lambda self: bool(self.in_flight))
    @rule(data=st.data())
    def provider_refuses(self, data: st.DataObject) -> None:
        """1302/1303, a 4xx, a refused connection: the provider says nothing was created."""
        i = data.draw(st.sampled_from(sorted(self.in_flight)))
        self.in_flight.discard(i)
        self._try(m.SendRefused(i, "busy"))

    @precondition(lambda self: any(t.state is m.TaskState.UNKNOWN for t in self.job.tasks))
    @rule(data=st.data())
    def lookup(self, data: st.DataObject) -> None:
        i = data.draw(st.sampled_from(self._tasks_in(m.TaskState.UNKNOWN)))
        key = self.job.tasks[i].external_id
        if self.created[key]:
            self._try(m.LookupFound(i, f"task-{key}"))
        else:
            self._try(m.LookupAbsent(i))

    @rule(reached_provider=st.booleans())
    def crash(self, reached_provider: bool) -> None:
        """kill -9: in-flight creates may or may not have reached the provider."""
        for i in self.in_flight:
            if reached_provider:
                self.created[self.job.tasks[i].external_id] += 1
        self.in_flight.clear()
        if not self.job.terminal:
            self._try(m.Recover())

    @precondition(lambda self: self.job.state is m.JobState.SUBMITTING)
    @rule()
    def submitted(self) -> None:
        self._try(m.Submitted())

    @precondition(lambda self: self.job.state is m.JobState.RUNNING)
    @rule(data=st.data(), ok=st.booleans())
    def task_finishes(self, data: st.DataObject, ok: bool) -> None:
        i = data.draw(st.integers(0, max(0, len(self.job.tasks) - 1)))
        self._try(m.TaskUpdate(i, done=True, succeeded=ok, billed_units=1.0))

    @precondition(lambda self: self.job.state is m.JobState.RUNNING)
    @rule()
    def tasks_done(self) -> None:
        self._try(m.TasksDone())

    @precondition(lambda self: self.job.state is m.JobState.DOWNLOADING)
    @rule(data=st.data())
    def fetched(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, max(0, len(self.job.tasks) - 1)))
        self._try(m.Fetched(i, (f"/tmp/{i}.mp4",)))

    @precondition(lambda self: self.job.state in (m.JobState.DOWNLOADING, m.JobState.FINISHING))
    @rule()
    def downloaded_and_finished(self) -> None:
        self._try(m.Downloaded())
        self._try(m.Finished({"outputs": []}))

    @precondition(lambda self: self.job.state in m.ACTIVE)
    @rule(requeue=st.booleans(), spend=st.booleans())
    def backoff(self, requeue: bool, spend: bool) -> None:
        self._try(m.Backoff(NOW + 1, "wait", spend_attempt=spend, requeue=requeue))

    @precondition(lambda self: not self.job.terminal)
    @rule(attention=st.booleans())
    def give_up(self, attention: bool) -> None:
        if attention:
            self._try(m.Attention(m.JobError("unresolved", "?")))
        else:
            self._try(m.Fail(m.JobError("x", "failed")))

    # ------------------------------------------------------------ the user's moves

    @precondition(lambda self: not self.job.terminal)
    @rule()
    def cancel(self) -> None:
        self._try(m.Cancel())

    @precondition(lambda self: self.job.state in m.RETRYABLE_STATES)
    @rule()
    def retry(self) -> None:
        if self._try(m.Retry()):
            self.retries += 1

    # ------------------------------------------------------------ invariants

    @invariant()
    def never_pays_twice_for_a_key(self) -> None:
        assert all(n <= 1 for n in self.created.values()), self.created

    @invariant()
    def paid_tasks_per_segment_bounded_by_generations(self) -> None:
        per_segment: Counter[int] = Counter()
        for key, n in self.created.items():
            per_segment[int(key.split("-")[2])] += n
        for index, n in per_segment.items():
            assert n <= self.job.generation, (index, n, self.job.generation)
        assert self.job.generation <= 1 + self.retries

    @invariant()
    def keys_are_unique_and_well_formed(self) -> None:
        keys = [t.external_id for t in self.job.tasks]
        assert len(keys) == len(set(keys))
        for t in self.job.tasks:
            assert t.external_id == m.external_id(self.job.id, t.index, t.generation)

    @precondition(lambda self: self.job.state is m.JobState.SUCCEEDED)
    @invariant()
    def success_means_every_output_fetched(self) -> None:
        assert all(t.state is m.TaskState.FETCHED for t in self.job.tasks)

    @invariant()
    def a_failed_job_never_hides_a_task_that_may_exist(self) -> None:
        if self.job.state is m.JobState.FAILED:
            assert not any(t.state is m.TaskState.UNKNOWN for t in self.job.tasks)


JobMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
TestJobMachine = JobMachine.TestCase


def test_next_step_covers_every_active_state() -> None:
    job = m.Job(
        id=m.new_id("j"), batch_id=m.new_id("b"), kind=m.JobKind.GENERATE, provider="draft", spec={}
    )
    assert m.next_step(job) == "start"
    job = m.apply(m.apply(job, m.Start(), NOW), m.Prepared(2, 2.0), NOW)
    assert m.next_step(job) == "send"
    job = m.apply(job, m.SendIntent(0), NOW)
    job = m.apply(job, m.SendFailed(0, "boom"), NOW)
    assert m.next_step(job) == "lookup"
    job = m.apply(job, m.LookupAbsent(0), NOW)
    assert m.next_step(job) == "send"


def test_ids_are_strict_and_sortable() -> None:
    a, b = m.new_id("j", NOW), m.new_id("j", NOW + 1)
    assert m.valid_id(a) and m.valid_id(b) and a < b
    assert not m.valid_id("j../etc/passwd") and not m.valid_id(a.upper())


def test_backoff_grows_and_is_capped() -> None:
    delays = [m.backoff_delay(n, 1.0, 30.0, 1.0) for n in range(1, 8)]
    assert delays == sorted(delays) and delays[-1] == 30.0
    assert m.backoff_delay(1, 2.0, 30.0, 0.0) == 1.0
