"""A one-job "daemon" for the kill -9 test: the real engine, MediaPipeline and KlingProvider.

``python -m tests.providers.kling_engine_driver API_BASE CLIP [--submit]`` submits a restyle
of CLIP (with --submit), then runs the engine until no job is active, and prints each job's
final state as JSON. State lives under KLING_BRIDGE_HOME, so a second run recovers what a
killed first run left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from tests.kling_emulator import Account
from tests.providers.conftest import CREDENTIALS
from tests.providers.kling_engine import build_engine

from kling_bridge.config import Paths
from kling_bridge.hosting import SignedLinkHost
from kling_bridge.jobs import model as m
from kling_bridge.jobs.engine import NewJob
from kling_bridge.specs import Look, RestyleSpec, SourceRange


async def main(api_base: str, clip: str, submit: bool) -> None:
    paths = Paths.resolve().ensure()
    host = SignedLinkHost(paths.data_dir / "hosted", paths.config_dir / "media-link.key",
                          listen_port=0)
    engine, provider = build_engine(api_base, CREDENTIALS["new"], host, paths.cache_dir / "k")
    await engine.start()
    if submit:
        spec = RestyleSpec(SourceRange(clip, 0, 100, "25"), Look("anime-cel"),
                           resolution="720p")
        _, jobs = await engine.submit(m.JobKind.RESTYLE, [NewJob(spec)], provider="kling")
        print(json.dumps({"submitted": jobs[0].id}), flush=True)
    while engine.store.query(states=[*m.ACTIVE, m.JobState.QUEUED], limit=10):
        await asyncio.sleep(0.05)
    for job in engine.store.query(limit=10):
        error = job.error.message if job.error else None
        print(json.dumps({"job": job.id, "state": str(job.state), "error": error}), flush=True)
    await engine.stop()
    await provider.aclose()


if __name__ == "__main__":
    assert Account()  # the emulator's default account holds CREDENTIALS["new"]
    p = argparse.ArgumentParser()
    p.add_argument("api_base")
    p.add_argument("clip")
    p.add_argument("--submit", action="store_true")
    a = p.parse_args(sys.argv[1:])
    asyncio.run(main(a.api_base, str(Path(a.clip)), a.submit))
