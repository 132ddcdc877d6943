"""kill -9 between the links of a chain, and while a link's task runs, then restart: the
chain resumes where it stopped, each link is one task at the provider, sent once, and a
finished link is never paid again. On the draft provider and on Kling (the emulator).

The process running the engine kills itself with SIGKILL from a hook that runs right after
a transition is durable (see ``tests/chains/driver.py``): the exact instants a crash is
worst for a chain -- link 1 succeeded but link 2 not created yet; link 2 created at the
provider but its result not fetched.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from kling_bridge.config import Paths
from kling_bridge.jobs.model import JobState, TaskState
from kling_bridge.jobs.store import JobStore
from tests.kling_emulator import KlingEmulator

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.asyncio]


async def driver(provider: str, clip: Path, *extra: str, api_base: str = "") -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.chains.driver", provider, str(clip), "--api-base",
        api_base, *extra, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=240)
    except TimeoutError:
        proc.kill()  # never leave a driver behind
        await proc.wait()
        raise
    assert proc.returncode in (0, -signal.SIGKILL), err.decode()[-3000:]
    return proc.returncode or 0, out.decode()


def links_on_disk() -> list[dict[str, Any]]:
    """Each link of the (one) chain: created?, and its job's state and tasks if it exists."""
    store = JobStore(Paths.resolve().database)
    try:
        out = []
        for _idx, job_id, created in store.read(
                "SELECT idx, job_id, created FROM chain_links ORDER BY idx"):
            job = store.get(job_id)
            out.append({"created": bool(created), "state": job.state if job else None,
                        "tasks": [t.state for t in job.tasks] if job else []})
        return out
    finally:
        store.close()


def finished_chain(out: str) -> dict[str, Any]:
    (line,) = [ln for ln in out.splitlines() if ln.startswith('{"id"')]
    chain: dict[str, Any] = json.loads(line)
    return chain


def draft_keys() -> list[str]:
    """The idempotency keys the draft provider ever took (one record per task it made)."""
    keys = Paths.resolve().cache_dir / "draft" / "keys"
    return sorted(json.loads(p.read_text())["external_id"] for p in keys.glob("*.json"))


def job_keys(chain: dict[str, Any]) -> list[str]:
    store = JobStore(Paths.resolve().database)
    try:
        return sorted(t.external_id for link in chain["links"]
                      for t in store.get(link["job_id"]).tasks)  # type: ignore[union-attr]
    finally:
        store.close()


async def test_draft_chain_killed_between_links_and_mid_link(editors_clips: list[Path]) -> None:
    clip = editors_clips[0]
    code, _ = await driver("draft", clip, "--submit", "restyle_then_broll",
                           "--die-after-link", "0")
    assert code == -signal.SIGKILL
    first, second = links_on_disk()
    assert first["state"] is JobState.SUCCEEDED and not second["created"]
    assert second["state"] is None  # killed before the next link existed
    code, _ = await driver("draft", clip, "--die-when-running", "1")
    assert code == -signal.SIGKILL
    _, second = links_on_disk()
    assert second["created"] and second["state"] is JobState.RUNNING
    code, out = await driver("draft", clip)
    assert code == 0
    chain = finished_chain(out)
    assert chain["state"] == "succeeded", chain
    # one task per link, ever: the restyle was not redone, the B-roll not sent again
    assert draft_keys() == job_keys(chain) and len(draft_keys()) == 2
    assert all(Path(link["video"]).is_file() for link in chain["links"])


async def test_kling_chain_killed_between_links_and_mid_link(emulator: KlingEmulator,
                                                             editors_clips: list[Path]) -> None:
    emulator.processing_seconds = 1.0  # time for a kill while the restyle is at Kling
    clip = editors_clips[0]
    base = emulator.base_url
    code, _ = await driver("kling", clip, "--submit", "generate_then_restyle",
                           "--die-after-link", "0", api_base=base)
    assert code == -signal.SIGKILL
    first, second = links_on_disk()
    assert first["state"] is JobState.SUCCEEDED and not second["created"]
    assert len(emulator.stats.tasks_created) == 1
    code, _ = await driver("kling", clip, "--die-when-running", "1", api_base=base)
    assert code == -signal.SIGKILL
    _, second = links_on_disk()
    assert second["state"] is JobState.RUNNING and second["tasks"] == [TaskState.ACCEPTED]
    code, out = await driver("kling", clip, api_base=base)
    assert code == 0
    chain = finished_chain(out)
    assert chain["state"] == "succeeded", chain
    keys = job_keys(chain)
    assert len(keys) == 2
    assert dict(emulator.stats.tasks_created) == dict.fromkeys(keys, 1)
    assert dict(emulator.stats.creates_attempted) == dict.fromkeys(keys, 1)
    assert chain["billed_units"] > 0
