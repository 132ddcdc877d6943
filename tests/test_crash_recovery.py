"""kill -9 the daemon mid-flight, restart it, stop it cleanly, restart it: every job
finishes, each task sent once.

The daemon runs as a real subprocess (production code, a durable fake provider whose
"servers" survive the kill). Kills land while creates are on the wire, between a create
reaching the provider and its answer being recorded, and while tasks run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kling_bridge.client import BridgeClient, BridgeError
from kling_bridge.config import Paths
from kling_bridge.jobs.model import TaskState
from kling_bridge.jobs.store import JobStore
from tests.fakes.provider import FakeProvider

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def start(home: Path, provider_dir: Path, delay: float = 1.0) -> subprocess.Popen[bytes]:
    """The daemon on the durable fake, its tasks running ``delay`` seconds at the provider
    (a second by default: time for a kill while they run)."""
    paths = Paths.resolve({"KLING_BRIDGE_HOME": str(home)})
    paths.discovery_file.unlink(missing_ok=True)
    env = {**os.environ, "KLING_BRIDGE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.daemon", str(provider_dir), "--delay", str(delay)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            BridgeClient.discover(str(paths.discovery_file), timeout=2).health()
            return proc
        except BridgeError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("daemon did not come up")


def client(home: Path) -> BridgeClient:
    paths = Paths.resolve({"KLING_BRIDGE_HOME": str(home)})
    return BridgeClient.discover(str(paths.discovery_file))


def sends_cut_short(home: Path, fake: FakeProvider) -> int:
    """Tasks the dead daemon recorded as 'sending' although the provider already has them."""
    store = JobStore(Paths.resolve({"KLING_BRIDGE_HOME": str(home)}).database)
    try:
        sending = [
            t.external_id
            for j in store.unfinished()
            for t in j.tasks
            if t.state is TaskState.SENDING
        ]
    finally:
        store.close()
    created = fake.created()
    return sum(1 for key in sending if key in created)


def kill9(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_sigkill_mid_flight_then_restart_finishes_every_job_once(tmp_path: Path) -> None:
    home, provider_dir = tmp_path / "home", tmp_path / "provider"
    fake = FakeProvider(provider_dir)
    # Slow creates, and a pause after the task exists at the provider but before the
    # daemon hears back: the window where a naive client would pay twice.
    fake.set_faults(submit_latency=0.15, post_create_latency=0.4)
    proc = start(home, provider_dir)
    try:
        c = client(home)
        job_ids = []
        for i in range(8):
            answer = c.generate({"prompt": f"shot {i}", "duration": 3 + i % 3})
            job_ids += [j["id"] for j in answer["jobs"]]
        kills = 0
        in_window = 0  # kills that landed after a create reached the provider, before its answer
        # Kill whenever creates are in flight, three times, restarting each time; once no
        # job is left to send (all sent: their tasks run), kill at once, while they run.
        # (It waited 20 s for a create that could no longer come: most of the test's time.)
        for _ in range(3):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                states = {c.job(j)["state"] for j in job_ids}
                if "submitting" in states or not states & {"queued", "preparing"}:
                    break
                time.sleep(0.02)
            time.sleep(0.25)
            kill9(proc)
            kills += 1
            in_window += sends_cut_short(home, fake)
            proc = start(home, provider_dir)
            c = client(home)
        fake.set_faults()
        # Then a clean stop with a job just sent and the others under way: exit 0, the
        # discovery file (private while it lived) goes, and the restart resumes them all.
        # (This was a test of its own: two more daemon start-ups, ~1 s of CPU each.)
        discovery = Paths.resolve({"KLING_BRIDGE_HOME": str(home)}).discovery_file
        assert discovery.stat().st_mode & 0o777 == 0o600
        job_ids += [j["id"] for j in c.generate({"prompt": "resume me", "duration": 3})["jobs"]]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert not discovery.exists()
        proc = start(home, provider_dir)
        c = client(home)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            jobs = [c.job(j) for j in job_ids]
            if all(j["state"] in ("succeeded", "failed", "needs_attention") for j in jobs):
                break
            time.sleep(0.1)
        assert kills == 3
        assert in_window >= 1, "no kill landed between a create and its answer"
        assert [j["state"] for j in jobs] == ["succeeded"] * len(job_ids), json.dumps(
            [(j["state"], j["error"]) for j in jobs], indent=1
        )
        keys = [t["external_id"] for j in jobs for t in j["tasks"]]
        assert len(keys) == len(job_ids)
        attempts, created = fake.attempts(), fake.created()
        assert {k: attempts.get(k) for k in keys} == dict.fromkeys(keys, 1), attempts
        assert created == dict.fromkeys(keys, 1)
    finally:
        proc.kill()
        proc.wait(timeout=10)
