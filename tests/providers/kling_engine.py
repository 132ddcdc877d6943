"""The real job engine wired to KlingProvider and the emulator (in-process or subprocess)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.providers.e2e_pipeline import KlingE2EPipeline

from kling_bridge.config import Paths, Settings, load_settings
from kling_bridge.credentials import KlingCredential
from kling_bridge.hosting import MediaHost
from kling_bridge.jobs import model as m
from kling_bridge.jobs.engine import Engine
from kling_bridge.jobs.store import JobStore
from kling_bridge.providers.kling import KlingProvider


def engine_settings(api_base: str) -> Settings:
    s = load_settings()
    s.provider = "kling"
    s.queue.backoff_base = 0.05
    s.queue.backoff_cap = 0.2
    s.kling.api_base = api_base
    return s


def build_engine(api_base: str, credential: KlingCredential, host: MediaHost,
                 scratch: Path) -> tuple[Engine, KlingProvider]:
    paths = Paths.resolve().ensure()
    settings = engine_settings(api_base)
    provider = KlingProvider(credential, settings=settings.kling, host=host,
                             scratch_dir=scratch)
    engine = Engine(store=JobStore(paths.database), providers={"kling": provider},
                    pipeline=KlingE2EPipeline(), settings=settings, paths=paths,
                    poll_intervals={"kling": (0.05, 0.3)})
    return engine, provider


async def wait_terminal(engine: Engine, job_id: str, timeout: float = 90.0) -> m.Job:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    final = set(m.TERMINAL) | {m.JobState.NEEDS_ATTENTION}
    while loop.time() < deadline:
        job = engine.store.get(job_id)
        assert job is not None
        if job.state in final:
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} stuck: {engine.store.get(job_id)}")
