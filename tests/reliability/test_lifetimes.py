"""Process lifetimes: one daemon per home, bounded stops, children that die with the daemon,
no temp file surviving a crash, private files, loopback only.

Every daemon here is a real subprocess (``kling-bridge serve``, or the real daemon with the
durable fake provider where a fault must be injected), stopped with real signals.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from kling_bridge.config import Paths
from kling_bridge.daemon import EXIT_FORCED, STOP_GRACE_SECONDS
from kling_bridge.home import HomeBusy, HomeLock
from tests.fakes.provider import FakeProvider

from .served import Served, children_of, command_of, env_for, running, serve, spawn, wait_ready

pytestmark = pytest.mark.slow


def _wait(predicate: object, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _job(served: Served, body: dict[str, object]) -> str:
    answer = served.call("POST", "/v1/generate", body)
    assert answer.status == 201, answer.body
    return str(answer.json["jobs"][0]["id"])


def _refused(home: Path) -> str:
    """A second ``serve`` on ``home``: it must exit at once, saying why."""
    proc = spawn(home)
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert code != 0, "a second daemon started on the same home"
    return err


def _holder(home: Path) -> int:
    """The pid holding ``home``'s lock; fails if nobody does."""
    try:
        lock = HomeLock.acquire(Paths.resolve({"KLING_BRIDGE_HOME": str(home)}))
    except HomeBusy as busy:
        return busy.pid
    lock.release()
    raise AssertionError("nobody holds the home")


def test_a_start_after_a_crash_cleans_up_and_then_holds_the_home(tmp_path: Path) -> None:
    """What a crashed daemon leaves, all in one home, cleaned by one start (each check was a
    daemon start-up of its own, ~1 s of CPU): a stale discovery file naming another program
    blocks nothing; the children it recorded are killed (what ends them on macOS, which has
    no death signal), a bystander whose pid was recorded is not; its temp files are swept,
    the user's files kept. Then the started daemon holds the home: a second is refused."""
    home = tmp_path / "home"
    paths = Paths.resolve({"KLING_BRIDGE_HOME": str(home)}).ensure()
    run_dir = paths.data_dir / "run"
    run_dir.mkdir(parents=True)
    other = subprocess.Popen(["sleep", "120"])  # the pid a crashed daemon's file names now
    paths.discovery_file.write_text(json.dumps({"host": "127.0.0.1", "port": 1,
                                                "token": "old", "pid": other.pid}))
    orphan = subprocess.Popen(["ffmpeg", "-v", "error", "-f", "lavfi", "-re", "-i",
                               "testsrc2=size=64x64:rate=5", "-t", "300", "-f", "null", "-"],
                              stdin=subprocess.DEVNULL)
    bystander = subprocess.Popen(["sleep", "300"])  # its pid recorded as ffmpeg: not ours
    (run_dir / f"{orphan.pid}.child").write_text("ffmpeg")
    (run_dir / f"{bystander.pid}.child").write_text("ffmpeg")
    temps = [
        paths.outputs_dir / "b1" / ".shot.tmp-4242-0a1b2c3d.mov",
        paths.jobs_dir / "j1" / "fetched" / ".task0-g1-0.mp4.1a2b3c4d.part",
        paths.jobs_dir / "j1" / ".plan.json.4242.tmp",
        paths.cache_dir / "draft" / "tasks" / ".t-1.json.4242.a1b2c3.tmp",
        paths.cache_dir / "kling" / ".still.tmp.mp4",
        paths.config_dir / ".daemon.json.4242.tmp",
    ]
    kept = [paths.outputs_dir / "b1" / "shot · film noir.mov",
            paths.jobs_dir / "j1" / "fetched" / "task0-g1-0.mp4",
            paths.cache_dir / "otioz" / "abc" / ".editor.tmp"]  # a user's bundle: not ours
    for path in temps + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    try:
        first = serve(home, fake=True)
        try:
            assert json.loads(paths.discovery_file.read_text())["pid"] == first.pid
            assert orphan.wait(timeout=20) == -signal.SIGKILL
            assert bystander.poll() is None and other.poll() is None
            assert list(run_dir.glob("*.child")) == []
            assert [p for p in temps if p.exists()] == []
            assert all(p.exists() for p in kept)
            # One daemon per home: a second start exits at once, saying which one runs.
            err = _refused(home)
            assert "already running" in err and str(first.pid) in err, err
            assert "Traceback" not in err
            assert first.call("GET", "/v1/health").status == 200
            info = json.loads(first.paths.discovery_file.read_text())
            assert info["pid"] == first.pid  # the refused one did not touch it
        finally:
            first.stop()
        assert other.poll() is None  # and the other program was left alone
    finally:
        for proc in (other, orphan, bystander):
            proc.kill()
            proc.wait()


def test_sigterm_mid_send_keeps_the_home_until_the_send_is_recorded(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = serve(home, fake=True)
    fake = FakeProvider(home / "provider")
    fake.set_faults(post_create_latency=4.0)
    job_id = _job(first, {"prompt": "a harbour at night", "duration": 3})
    _wait(lambda: fake.created(), what="the create to reach the provider")
    first.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert first.alive(), "the daemon left before recording its send"
    assert first.paths.discovery_file.exists(), "discovery file removed before the end"
    # Still its home: asked in-process, at once (a second `serve` needs ~1 s of CPU to reach
    # the lock and, on a loaded machine, got there after the stop and became the daemon;
    # the command line's refusal is test_a_start_after_a_crash_cleans_up_and_then_holds_the_home's).
    assert _holder(home) == first.pid
    assert first.proc.wait(timeout=STOP_GRACE_SECONDS + 15) == 0
    assert not first.paths.discovery_file.exists()
    fake.set_faults()
    second = serve(home, fake=True)
    try:
        job = second.call("GET", f"/v1/jobs/{job_id}").json
        assert job["tasks"][0]["provider_task_id"], "the send was not recorded"
        _wait(lambda: second.call("GET", f"/v1/jobs/{job_id}").json["state"] == "succeeded",
              what="the job to finish")
        assert fake.created() == {job["tasks"][0]["external_id"]: 1}
    finally:
        second.stop()


def test_sigterm_ends_the_process_in_bounded_time_with_a_stuck_worker(tmp_path: Path) -> None:
    home = tmp_path / "home"
    served = serve(home, fake=True)
    fake = FakeProvider(home / "provider")
    fake.set_faults(validate_sleep=3600)  # a worker thread that never comes back
    job_id = _job(served, {"prompt": "fog over a lake", "duration": 3})
    _wait(lambda: served.call("GET", f"/v1/jobs/{job_id}").json["state"] == "preparing",
          what="the job to reach the stuck validation")
    time.sleep(0.3)
    started = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    code = served.proc.wait(timeout=STOP_GRACE_SECONDS + 30)  # a hang fails here
    assert code in (0, EXIT_FORCED)
    assert time.monotonic() - started < STOP_GRACE_SECONDS + 30
    assert not served.paths.discovery_file.exists()
    fake.set_faults()
    again = serve(home, fake=True)  # the lock went with the process
    try:
        assert again.call("GET", f"/v1/jobs/{job_id}").json["state"] in (
            "queued", "preparing", "submitting", "running", "downloading", "finishing",
            "succeeded")
    finally:
        again.stop()


def _ffmpeg_children(pid: int) -> list[int]:
    return [c for c in children_of(pid) if "ffmpeg" in command_of(c)]


def test_kill_9_takes_ffmpeg_children_along_and_restart_sweeps(tmp_path: Path) -> None:
    home = tmp_path / "home"
    served = serve(home)
    job_id = _job(served, {"prompt": "rain on a tin roof, close up", "duration": 15,
                           "resolution": "1080p"})
    _wait(lambda: _ffmpeg_children(served.pid), timeout=60, what="a draft render to start")
    kids = _ffmpeg_children(served.pid)
    served.stop(signal.SIGKILL)
    _wait(lambda: not any(running(k) for k in kids), timeout=10,
          what="ffmpeg to die with the daemon")
    restarted_at = time.time()
    again = serve(home)
    try:
        old_temps = [p for p in home.rglob(".*") if p.is_file()
                     and (".tmp" in p.name or p.name.endswith(".part"))
                     and p.stat().st_mtime < restarted_at]
        assert old_temps == [], "temp files of the killed run survived the restart"
        job = again.call("GET", f"/v1/jobs/{job_id}").json  # not lost: resumed
        assert job["state"] in ("queued", "preparing", "submitting", "running", "downloading",
                                "finishing", "succeeded")
        again.call("POST", f"/v1/jobs/{job_id}/cancel")
    finally:
        again.stop()


def test_everything_the_daemon_writes_is_private_under_umask_000(tmp_path: Path) -> None:
    home = tmp_path / "home"
    served = wait_ready(spawn(home, umask=0), home)
    assert stat.S_IMODE(served.paths.discovery_file.stat().st_mode) == 0o600
    try:
        job_id = _job(served, {"prompt": "a kite", "duration": 3, "resolution": "720p"})
        _wait(lambda: served.call("GET", f"/v1/jobs/{job_id}").json["state"] == "succeeded",
              timeout=120, what="the draft job")
    finally:
        served.stop()
    loose = []
    for folder, dirs, files in os.walk(home):
        for name in dirs:
            mode = stat.S_IMODE((Path(folder) / name).stat().st_mode)
            if mode != 0o700 and Path(folder, name) != home / "provider":
                loose.append((str(Path(folder, name)), oct(mode)))
        for name in files:
            mode = stat.S_IMODE((Path(folder) / name).lstat().st_mode)
            if mode & 0o077:
                loose.append((str(Path(folder, name)), oct(mode)))
    assert loose == []
    outputs = list(served.paths.outputs_dir.rglob("*.*"))
    assert outputs, "the job wrote no output"


def test_a_non_loopback_address_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for host in ("0.0.0.0", "192.168.1.10", "::"):
        proc = spawn(home, env=env_for(home, KLING_BRIDGE_HOST=host))
        code = proc.wait(timeout=60)
        err = proc.stderr.read().decode() if proc.stderr else ""
        assert code != 0 and "not a loopback address" in err, (host, err)
        assert "Traceback" not in err
        assert not Paths.resolve({"KLING_BRIDGE_HOME": str(home)}).discovery_file.exists()
