"""kill -9 the daemon while it works through a watch folder, restart it: every drop is done
once -- one batch, one task at the provider, one result in out/, one source in processed/.

The daemon is a real subprocess (production code; the durable fake provider stands for
Kling's servers and survives the kill) watching a ``[[watch]]`` folder from config.toml.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kling_bridge.client import BridgeClient, BridgeError
from kling_bridge.config import Paths
from tests.fakes.provider import FakeProvider

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def start(home: Path, provider_dir: Path) -> subprocess.Popen[bytes]:
    paths = Paths.resolve({"KLING_BRIDGE_HOME": str(home)})
    paths.discovery_file.unlink(missing_ok=True)
    env = {**os.environ, "KLING_BRIDGE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.daemon", str(provider_dir), "--delay", "0.4",
         "--concurrency", "4"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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


def ledger_states(home: Path) -> dict[str, int]:
    db = Paths.resolve({"KLING_BRIDGE_HOME": str(home)}).data_dir / "watch.sqlite3"
    if not db.exists():
        return {}
    conn = sqlite3.connect(db, timeout=10)
    try:
        return dict(conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out: {what}")


def kill9(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != "README.txt" and not p.name.startswith("."))


def test_kill_9_while_processing_then_restart_finishes_without_duplicates(tmp_path: Path) -> None:
    home, provider_dir, watch = tmp_path / "home", tmp_path / "provider", tmp_path / "watch"
    paths = Paths.resolve({"KLING_BRIDGE_HOME": str(home)}).ensure()
    paths.config_file.write_text(
        f'[[watch]]\npath = "{watch}"\nstable_seconds = 0.2\nrescan_seconds = 1\n')
    fake = FakeProvider(provider_dir)
    prompts = {f"take {n:02d}": f"a fox in the snow, take {n}" for n in range(24)}
    (watch / "generate").mkdir(parents=True)
    for name, words in list(prompts.items())[:16]:
        (watch / "generate" / f"{name}.txt").write_text(words)

    proc = start(home, provider_dir)
    kills = []
    try:
        # 1: some drops submitted, others not yet taken or still waiting on the provider.
        wait_for(lambda: ledger_states(home).get("submitted", 0) >= 3, 30, "submissions")
        kills.append(ledger_states(home))
        kill9(proc)
        for name, words in list(prompts.items())[16:]:  # more arrive while it is down
            (watch / "generate" / f"{name}.txt").write_text(words)
        proc = start(home, provider_dir)
        # 2: some finished, some in flight.
        wait_for(lambda: 4 <= ledger_states(home).get("done", 0) < 20, 60, "some done")
        kills.append(ledger_states(home))
        kill9(proc)
        proc = start(home, provider_dir)
        # 3: as soon as it is back (recovering), again.
        time.sleep(0.3)
        kills.append(ledger_states(home))
        kill9(proc)
        proc = start(home, provider_dir)
        wait_for(lambda: ledger_states(home).get("done", 0) == 24, 90, "all 24 done")
        time.sleep(0.5)  # anything that would still move, moves
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    assert any(k.get("submitted") for k in kills), kills
    conn = sqlite3.connect(paths.database)
    specs = [json.loads(r[0]) for r in conn.execute("SELECT spec FROM jobs")]
    batches = conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
    conn.close()
    assert sorted(s["prompt"] for s in specs) == sorted(prompts.values())  # one job each
    assert batches == 24
    created = fake.created()
    assert len(created) == 24 and set(created.values()) == {1}  # one task each at the provider
    assert files(watch / "processed") == sorted(f"generate/{n}.txt" for n in prompts)
    out = files(watch / "out")
    assert len(out) == 24 and not any("-2" in name for name in out), out
    assert files(watch / "processing") == [] and files(watch / "failed") == []
    assert files(watch / "generate") == []
