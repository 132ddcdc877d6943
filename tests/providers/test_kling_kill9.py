"""kill -9 of a process running the engine between a Kling create and its recording.

The emulator holds the create's answer after creating the task; the process is killed
while waiting for it. A new process recovers the job from SQLite: the task is looked up by
its external id (never re-sent) and the job finishes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from tests.kling_emulator import KlingEmulator
from tests.providers.conftest import Sources

from kling_bridge.config import Paths
from kling_bridge.jobs.model import JobState, TaskState
from kling_bridge.jobs.store import JobStore

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


async def _driver(emulator: KlingEmulator, clip: Path, *extra: str
                  ) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.providers.kling_engine_driver", emulator.base_url,
        str(clip), *extra, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


async def test_kill_9_between_send_and_record_ends_with_one_task(
    emulator: KlingEmulator, sources: Sources
) -> None:
    emulator.add_fault(on="create", action="hold_after_create", seconds=60)
    first = await _driver(emulator, sources.small25, "--submit")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not emulator.stats.tasks_created and loop.time() < deadline:
        assert first.returncode is None
        await asyncio.sleep(0.02)
    assert emulator.stats.tasks_created, "the create never reached the emulator"
    first.send_signal(signal.SIGKILL)
    await first.wait()
    assert first.returncode == -signal.SIGKILL

    store = JobStore(Paths.resolve().database)
    (job,) = store.query(limit=10)
    assert job.tasks[0].state is TaskState.SENDING and job.tasks[0].provider_task_id is None

    second = await _driver(emulator, sources.small25)
    out, err = await asyncio.wait_for(second.communicate(), timeout=120)
    assert second.returncode == 0, err.decode()[-2000:]
    final = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert final == [{"job": job.id, "state": str(JobState.SUCCEEDED), "error": None}]
    key = job.tasks[0].external_id
    assert emulator.stats.tasks_created == {key: 1}
    assert emulator.stats.creates_attempted == {key: 1}  # looked up, never sent again
