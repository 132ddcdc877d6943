"""The real job engine wired to the real MediaPipeline, KlingProvider and the emulator.

Used in-process by the end-to-end tests and the overhead bench, and in a subprocess by the
kill -9 test. Only the encoders are turned down (ultrafast, high CRF): the fitting, the
segmenting and the conform are the daemon's own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from kling_bridge.config import Paths, Settings, load_settings
from kling_bridge.credentials import KlingCredential
from kling_bridge.hosting import MediaHost
from kling_bridge.jobs import model as m
from kling_bridge.jobs.engine import Engine
from kling_bridge.jobs.media_pipeline import MediaPipeline
from kling_bridge.jobs.store import JobStore
from kling_bridge.media.conform import ConformOptions
from kling_bridge.providers.kling import KlingProvider


def engine_settings(api_base: str) -> Settings:
    s = load_settings()
    s.provider = "kling"
    s.queue.backoff_base = 0.05
    s.queue.backoff_cap = 0.2
    s.kling.api_base = api_base
    return s


def fast_pipeline(paths: Paths) -> MediaPipeline:
    """The daemon's pipeline with its encoders turned down for tests and benches."""
    return MediaPipeline(paths, preset="ultrafast", crf=30,
                         conform=ConformOptions(crf=30, preset="ultrafast"))


def build_engine(api_base: str, credential: KlingCredential, host: MediaHost, scratch: Path,
                 pipeline: MediaPipeline | None = None) -> tuple[Engine, KlingProvider]:
    paths = Paths.resolve().ensure()
    settings = engine_settings(api_base)
    provider = KlingProvider(credential, settings=settings.kling, host=host,
                             scratch_dir=scratch)
    engine = Engine(store=JobStore(paths.database), providers={"kling": provider},
                    pipeline=pipeline or fast_pipeline(paths), settings=settings, paths=paths,
                    poll_intervals={"kling": (0.05, 0.3)}, throttle_floor=0.05)
    return engine, provider


async def wait_terminal(engine: Engine, job_id: str, timeout: float = 300.0) -> m.Job:
    """Poll the store every 20 ms; the deadline only catches a stuck job (on a shared
    machine under load a 15 s restyle has taken over 120 s to finish)."""
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
