from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from kling_bridge.config import Paths, Settings, load_settings
from kling_bridge.jobs import model as m
from kling_bridge.jobs.engine import Engine
from kling_bridge.jobs.store import JobStore
from tests.fakes.pipeline import PassthroughPipeline
from tests.fakes.provider import FakeProvider


def fast_settings(**overrides: Any) -> Settings:
    s = load_settings()
    s.queue.backoff_base = 0.01
    s.queue.backoff_cap = 0.05
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        setattr(getattr(s, section), name, value)
    return s


class Harness:
    def __init__(self, engine: Engine, provider: FakeProvider, pipeline: PassthroughPipeline):
        self.engine = engine
        self.provider = provider
        self.pipeline = pipeline
        self.store = engine.store

    async def wait(
        self, job_id: str, states: set[m.JobState] | None = None, timeout: float = 20.0
    ) -> m.Job:
        states = states or set(m.TERMINAL) | {m.JobState.NEEDS_ATTENTION}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            job = self.store.get(job_id)
            assert job is not None
            if job.state in states:
                return job
            await asyncio.sleep(0.01)
        raise AssertionError(f"job {job_id} stuck in {self.store.get(job_id)}")


@pytest.fixture
def make_harness(tmp_path: Path) -> Callable[..., Any]:
    created: list[Harness] = []

    async def make(
        settings: Settings | None = None, delay: float = 0.0, paid: bool = True, start: bool = True
    ) -> Harness:
        paths = Paths.resolve().ensure()
        store = JobStore(paths.database)
        provider = FakeProvider(tmp_path / "provider", delay=delay, paid=paid)
        pipeline = PassthroughPipeline()
        engine = Engine(
            store=store,
            providers={"fake": provider},
            pipeline=pipeline,
            settings=settings or fast_settings(),
            paths=paths,
            poll_intervals={"fake": (0.01, 0.05)},
            # A rate-limited create waits at least a second for users; 50 ms here (the
            # floor itself: tests/jobs/test_budget.py), as fast_settings shortens backoffs.
            throttle_floor=0.05,
        )
        h = Harness(engine, provider, pipeline)
        created.append(h)
        if start:
            await engine.start()
        return h

    return make


@pytest.fixture
async def harness(make_harness: Callable[..., Any]) -> AsyncIterator[Harness]:
    h = await make_harness()
    yield h
    await h.engine.stop()
    h.store.close()
