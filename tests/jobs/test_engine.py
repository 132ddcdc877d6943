"""The engine end to end over a durable fake provider: life, faults, money, recovery."""

from __future__ import annotations

import asyncio

import pytest

from kling_bridge.jobs import model as m
from kling_bridge.jobs.engine import EngineError, NewJob
from kling_bridge.specs import GenerateSpec, Look, RestyleSpec, SourceRange

from .conftest import Harness, fast_settings


def gen(prompt: str = "a lighthouse at dawn", duration: int = 5) -> NewJob:
    return NewJob(GenerateSpec(prompt=prompt, duration=duration), label=prompt[:20])


def restyle(seconds: int, rate: str = "25") -> NewJob:
    frames = seconds * 25
    return NewJob(RestyleSpec(SourceRange("/media/clip.mov", 0, frames, rate), Look("film-noir")))


async def submit(h: Harness, *jobs: NewJob, kind: m.JobKind = m.JobKind.GENERATE) -> list[m.Job]:
    _, created = await h.engine.submit(kind, list(jobs), provider="fake")
    return created


async def test_generate_job_runs_to_success_with_one_create(harness: Harness) -> None:
    (job,) = await submit(harness, gen())
    done = await harness.wait(job.id)
    assert done.state is m.JobState.SUCCEEDED, done.error
    assert harness.provider.attempts() == {done.tasks[0].external_id: 1}
    assert done.billed_units == 5.0 and done.estimate_units == 5.0
    assert done.result and done.result["outputs"][0]["role"] == "video"
    assert done.progress == 1.0


async def test_long_restyle_becomes_balanced_segments_each_sent_once(harness: Harness) -> None:
    (job,) = await submit(harness, restyle(40), kind=m.JobKind.RESTYLE)
    done = await harness.wait(job.id)
    assert done.state is m.JobState.SUCCEEDED, done.error
    assert len(done.tasks) == 3
    assert sorted(harness.provider.attempts().values()) == [1, 1, 1]
    assert done.result is not None and done.result["metadata"]["segments"] == 3


@pytest.mark.parametrize("fault", ["server_error_after_create", "drop_after_create"])
async def test_create_that_fails_after_creating_is_found_not_resent(
    harness: Harness, fault: str
) -> None:
    harness.provider.set_faults(**{fault: 1})
    (job,) = await submit(harness, gen())
    done = await harness.wait(job.id)
    assert done.state is m.JobState.SUCCEEDED, done.error
    key = done.tasks[0].external_id
    assert harness.provider.attempts() == {key: 1}
    assert harness.provider.created() == {key: 1}


async def test_rate_limit_burst_waits_without_spending_attempts(harness: Harness) -> None:
    harness.provider.set_faults(rate_limit=3)
    (job,) = await submit(harness, gen())
    done = await harness.wait(job.id, timeout=60)
    assert done.state is m.JobState.SUCCEEDED, done.error
    assert done.attempts == 0
    key = done.tasks[0].external_id
    assert harness.provider.attempts()[key] == 4  # 3 refusals + 1 create
    assert harness.provider.created() == {key: 1}


async def test_quota_fails_and_holds_paid_work_until_a_retry(harness: Harness) -> None:
    harness.provider.set_faults(quota=True)
    (job,) = await submit(harness, gen())
    done = await harness.wait(job.id)
    assert done.state is m.JobState.FAILED
    assert done.error is not None and done.error.code == "quota"
    assert "resource pack" in done.error.message and done.error.hint
    assert harness.engine.holds()["fake"]["code"] == "quota"
    with pytest.raises(EngineError) as refused:
        await submit(harness, gen("another"))
    assert refused.value.status == 402
    harness.provider.set_faults()
    await harness.engine.retry(job.id)
    again = await harness.wait(job.id)
    assert again.state is m.JobState.SUCCEEDED
    assert not harness.engine.holds()


async def test_content_policy_fails_with_the_providers_message(harness: Harness) -> None:
    (job,) = await submit(harness, gen("POLICY please"))
    done = await harness.wait(job.id)
    assert done.state is m.JobState.FAILED
    assert done.error is not None and "content safety" in done.error.message
    assert harness.provider.created() == {}


async def test_provider_failure_then_retry_uses_a_new_key(harness: Harness) -> None:
    (job,) = await submit(harness, gen("FAILME"))
    done = await harness.wait(job.id)
    assert done.state is m.JobState.FAILED
    assert done.error is not None and "the model refused" in done.error.message
    first_key = done.tasks[0].external_id
    await harness.engine.retry(job.id)
    again = await harness.wait(job.id, {m.JobState.FAILED, m.JobState.SUCCEEDED})
    assert again.generation == 2
    assert again.tasks[0].external_id != first_key
    assert harness.provider.attempts() == {first_key: 1, again.tasks[0].external_id: 1}


async def test_cancel_queued_costs_nothing_cancel_running_says_credits_spent(
    make_harness,
) -> None:
    h: Harness = await make_harness(delay=30.0)
    try:
        (running,) = await submit(h, gen("slow one"))
        await h.wait(running.id, {m.JobState.RUNNING})
        cancelled = await h.engine.cancel(running.id)
        assert cancelled.state is m.JobState.CANCELLED
        assert "spent" in cancelled.note
        h.engine.settings.queue.concurrency["fake"] = 0
        (queued,) = await submit(h, gen("never sent"))
        c2 = await h.engine.cancel(queued.id)
        assert c2.state is m.JobState.CANCELLED and c2.note == ""
        assert c2.tasks == () or all(t.sends == 0 for t in c2.tasks)
    finally:
        await h.engine.stop()
        h.store.close()


async def test_a_cancel_tells_the_provider_and_a_failure_to_forget_is_logged(
    make_harness, caplog: pytest.LogCaptureFixture
) -> None:
    """``forget`` is part of the provider port: every cancelled task's key reaches it (Kling
    unpublishes the inputs), and when it fails the cancel still stands and the log says so
    (it used to be swallowed without a word)."""
    h: Harness = await make_harness(delay=30.0)
    try:
        (first,) = await submit(h, gen("slow one"))
        await h.wait(first.id, {m.JobState.RUNNING})
        cancelled = await h.engine.cancel(first.id)
        assert h.provider.forgotten == [t.external_id for t in cancelled.tasks]
        (second,) = await submit(h, gen("slow two"))
        await h.wait(second.id, {m.JobState.RUNNING})
        h.provider.set_faults(forget_error=1)
        with caplog.at_level("WARNING", logger="kling_bridge.engine"):
            again = await h.engine.cancel(second.id)
        assert again.state is m.JobState.CANCELLED
        assert any("could not forget" in r.getMessage() and again.tasks[0].external_id
                   in r.getMessage() for r in caplog.records)
    finally:
        await h.engine.stop()
        h.store.close()


async def test_budget_caps_refuse_before_sending(make_harness) -> None:
    settings = fast_settings(budget__per_job_units=10.0, budget__per_day_units=12.0)
    h: Harness = await make_harness(settings=settings)
    try:
        with pytest.raises(EngineError) as too_big:
            await submit(h, gen(duration=15))
        assert too_big.value.code == "budget" and "per-job cap" in too_big.value.message
        (job,) = await submit(h, gen(duration=8))
        assert (await h.wait(job.id)).state is m.JobState.SUCCEEDED
        with pytest.raises(EngineError) as day:
            await submit(h, gen("second", duration=5))
        assert "daily cap" in day.value.message
        assert len(h.provider.created()) == 1
    finally:
        await h.engine.stop()
        h.store.close()


async def test_identical_request_is_served_from_cache_for_nothing(harness: Harness) -> None:
    (a,) = await submit(harness, gen("same words"))
    assert (await harness.wait(a.id)).state is m.JobState.SUCCEEDED
    (b,) = await submit(harness, gen("same words"))
    done = await harness.wait(b.id)
    assert done.state is m.JobState.SUCCEEDED
    assert done.tasks[0].cached and done.billed_units == 0.0
    assert len(harness.provider.created()) == 1


async def test_pipeline_refusal_fails_clearly(harness: Harness) -> None:
    (job,) = await submit(harness, gen("BADMEDIA clip.mov"))
    done = await harness.wait(job.id)
    assert done.state is m.JobState.FAILED
    assert done.error is not None and "not a video" in done.error.message
    assert done.error.hint == "pick another file"


async def test_download_errors_retry_without_paying_again(harness: Harness) -> None:
    harness.provider.set_faults(fetch_error=2)
    (job,) = await submit(harness, gen())
    done = await harness.wait(job.id)
    assert done.state is m.JobState.SUCCEEDED, done.error
    assert sum(harness.provider.attempts().values()) == 1


async def test_recovery_looks_up_a_send_cut_short_by_a_crash(make_harness) -> None:
    """Crash between the durable intent and the provider's answer, both ways."""
    h: Harness = await make_harness(start=False)
    try:
        _, jobs = await h.engine.submit(
            m.JobKind.GENERATE, [gen("sent"), gen("not sent")], provider="fake"
        )
        for job in jobs:
            j = m.apply(job, m.Start(), 1.0)
            j = m.apply(j, m.Prepared(1, 5.0), 1.0)
            j = m.apply(j, m.SendIntent(0), 1.0)
            await h.store.asave(j)
        # The first create reached the provider before the "crash"; the second did not.
        from kling_bridge.jobs.costs import predicted_requests

        req = predicted_requests(GenerateSpec(prompt="sent", duration=5), h.provider.limits)[0]
        await h.provider.submit(
            req, jobs[0].tasks[0].external_id if jobs[0].tasks else m.external_id(jobs[0].id, 0, 1)
        )
        await h.engine.start()
        for job in jobs:
            done = await h.wait(job.id)
            assert done.state is m.JobState.SUCCEEDED, done.error
        assert h.provider.created() == {m.external_id(j.id, 0, 1): 1 for j in jobs}
        assert h.provider.attempts() == {m.external_id(j.id, 0, 1): 1 for j in jobs}
    finally:
        await h.engine.stop()
        h.store.close()


async def test_lookup_that_keeps_failing_hands_the_job_to_a_person(make_harness) -> None:
    # Lookups are patient for queue.lookup_patience_seconds, whatever max_attempts says.
    settings = fast_settings(queue__max_attempts=2, queue__lookup_patience_seconds=0.4)
    h: Harness = await make_harness(settings=settings)
    try:
        h.provider.set_faults(drop_after_create=1, lookup_error=10_000)
        (job,) = await submit(h, gen())
        done = await h.wait(job.id)
        assert done.state is m.JobState.NEEDS_ATTENTION
        assert done.error is not None and done.error.code == "unresolved"
        assert done.updated_at - done.tasks[0].unknown_since >= 0.4  # it kept looking
        assert f"kling-bridge retry {job.id}" in done.error.hint  # what the user can do
        assert done.tasks[0].external_id in done.error.hint + done.error.message
        h.provider.set_faults()
        await h.engine.retry(job.id)
        again = await h.wait(job.id)
        assert again.state is m.JobState.SUCCEEDED
        assert h.provider.attempts() == {again.tasks[0].external_id: 1}
    finally:
        await h.engine.stop()
        h.store.close()


async def test_lookups_failing_for_a_while_never_strand_the_job(make_harness) -> None:
    """More failed lookups than max_attempts allows, within the patience: the job goes on."""
    settings = fast_settings(queue__max_attempts=2)
    h: Harness = await make_harness(settings=settings)
    try:
        h.provider.set_faults(drop_after_create=1, lookup_error=6)
        (job,) = await submit(h, gen())
        done = await h.wait(job.id, timeout=60)
        assert done.state is m.JobState.SUCCEEDED, done.error
        assert done.attempts == 0  # lookups spend no attempt
        key = done.tasks[0].external_id
        assert h.provider.attempts() == {key: 1} and h.provider.created() == {key: 1}
    finally:
        await h.engine.stop()
        h.store.close()


async def test_a_refusal_that_created_nothing_is_resent_without_a_lookup(
    harness: Harness,
) -> None:
    """1303 means "not created": no lookup is needed, and the same key goes again."""
    harness.provider.set_faults(rate_limit=2, lookup_error=10_000)  # a lookup would stall it
    (job,) = await submit(harness, gen())
    done = await harness.wait(job.id, timeout=60)
    assert done.state is m.JobState.SUCCEEDED, done.error
    key = done.tasks[0].external_id
    assert key == m.external_id(job.id, 0, 1)  # the same key, re-sent
    assert harness.provider.attempts() == {key: 3} and harness.provider.created() == {key: 1}
    assert done.tasks[0].where == "fake"  # recorded before the create


async def test_concurrency_limit_per_provider(make_harness) -> None:
    settings = fast_settings()
    settings.queue.concurrency["fake"] = 2
    h: Harness = await make_harness(settings=settings, delay=0.3)
    try:
        jobs = await submit(h, *[gen(f"clip {i}") for i in range(6)])
        peak = 0
        while True:
            states = [h.store.get(j.id).state for j in jobs]  # type: ignore[union-attr]
            peak = max(peak, sum(s in m.ACTIVE for s in states))
            if all(s in m.TERMINAL for s in states):
                break
            await asyncio.sleep(0.01)
        assert peak == 2
    finally:
        await h.engine.stop()
        h.store.close()
