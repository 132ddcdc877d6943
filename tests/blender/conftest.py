"""Real Blender (the ``bpy`` wheels) against a real daemon (draft provider).

Each Blender series has its own venv under ``tools/bpy-venvs.sh``'s cache, made once. Which
series run: ``KLING_BRIDGE_BLENDER_VERSIONS`` ("4.5 5.2" by default, "all" for 4.2 4.5 5.0
5.2). A missing venv skips its tests with the command that makes it -- except when
``KLING_BRIDGE_BPY_REQUIRED=1`` (``./setup.sh test`` sets it after making the venvs), where
it fails: CI must never pass by skipping Blender.

Two Blender processes per version run ``scenario.py`` (many checks, shared media): ``main``,
then ``reopen headless chains`` (plus ``autostart`` for the first version), so the cost is a
few Blender start-ups, not one per assertion; under pytest-xdist the result is computed
once per version (a lock file) and shared by the workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kling_bridge.client import BridgeClient
from kling_bridge.media.synth import make_clip, make_still, make_tone
from tests.shared_files import locked, make_once, shared_folder

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SERVE_SMALL = ROOT / "tests" / "chains" / "serve_small.py"  # kling-bridge serve, drafts small
ALL_SERIES = ("4.2", "4.5", "5.0", "5.2")
DEFAULT_SERIES = ("4.5", "5.2")


def series() -> tuple[str, ...]:
    wanted = os.environ.get("KLING_BRIDGE_BLENDER_VERSIONS", "").replace(",", " ").split()
    if not wanted:
        return DEFAULT_SERIES
    if "all" in wanted:
        return ALL_SERIES
    return tuple(wanted)


def bpy_cache() -> Path:
    base = os.environ.get("KLING_BRIDGE_BPY_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "kling-bridge" / "bpy"


def bpy_python(version: str) -> Path:
    """The venv's python for a Blender series, or skip/fail with how to make it."""
    python = bpy_cache() / version / "bin" / "python"
    if python.is_file() and (python.parent.parent / ".ready").is_file():
        return python
    message = (f"no bpy venv for Blender {version} at {python.parent.parent}: make it with "
               f"tools/bpy-venvs.sh {version}")
    if os.environ.get("KLING_BRIDGE_BPY_REQUIRED") == "1":
        pytest.fail(message + " (KLING_BRIDGE_BPY_REQUIRED=1: setup.sh should have)")
    pytest.skip(message)


def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder all xdist workers of this run share (the basetemp's parent under xdist).

    ``KLING_BRIDGE_BLENDER_SHARED=DIR`` keeps it (and the facts Blender produced) across
    runs, to edit the assertions without running Blender again."""
    kept = os.environ.get("KLING_BRIDGE_BLENDER_SHARED")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return shared_folder(tmp_path_factory, "blender-shared")


def make_media(folder: Path) -> Path:
    """Tiny real media: 320x180 movies at 25 and 29.97 fps with sound, a dialogue, a face."""
    folder.mkdir(parents=True, exist_ok=True)
    with make_once(folder) as must:
        if must:
            make_clip(folder / "shot 25.mov", rate="25", frames=100, tone_hz=330)
            make_clip(folder / "shot 2997.mov", rate="30000/1001", frames=100, audio=False,
                      pattern="mandelbrot")
            make_tone(folder / "dialogue.wav", seconds=3.0)
            make_still(folder / "face.png", width=320, height=320)
    return folder


def build_zip(folder: Path) -> Path:
    with locked(folder / ".zip.lock"):
        zips = sorted(folder.glob("kling_bridge-*.zip"))
        if zips:
            return zips[0]
        out = subprocess.run([sys.executable, str(ROOT / "tools" / "build_blender_extension.py"),
                              "--out", str(folder)], check=True, capture_output=True, text=True)
        return Path(out.stdout.strip().splitlines()[-1])


class Daemon:
    """``kling-bridge serve`` with the draft provider, in ``home``: the command's own code,
    its drafts rendered small (``tests/chains/serve_small.py``: these tests check frames,
    places and jobs, not pixels)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = dict(os.environ, KLING_BRIDGE_HOME=str(home), KLING_BRIDGE_PROVIDER="draft")
        for var in ("KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY"):
            self.env.pop(var, None)
        self.log = open(home / "serve.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, str(SERVE_SMALL), "--port", "0",
                                      "--provider", "draft"],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.client = self._wait()

    def _wait(self) -> BridgeClient:
        discovery = self.home / "config" / "daemon.json"
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.home / "serve.log").read_text()[-2000:])
            if discovery.exists():
                try:
                    client = BridgeClient.discover(str(discovery))
                    client.health()
                    return client
                except Exception:
                    pass
            time.sleep(0.1)
        raise RuntimeError("the daemon did not start within 60 s")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run_blender(python: Path, phases: tuple[str, ...], out: Path, env: dict[str, str],
                *args: str, timeout: float = 600) -> dict[str, dict[str, Any]]:
    """``phases`` one after the other in one Blender process; each one's facts (from
    ``out``/PHASE.json), with the process's exit code and log."""
    cmd = [str(python), str(HERE / "scenario.py"), *phases, "--out", str(out), *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    found: dict[str, dict[str, Any]] = {}
    for phase in phases:
        path = out / f"{phase}.json"
        if not path.exists():
            raise AssertionError(f"Blender {phase} wrote nothing (exit {proc.returncode}):\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        facts: dict[str, Any] = json.loads(path.read_text())
        facts["exit_code"] = proc.returncode
        facts["log"] = (proc.stdout[-4000:], proc.stderr[-4000:])
        found[phase] = facts
    return found


def run_versions(versions: tuple[str, ...], shared: Path) -> dict[str, dict[str, Any]]:
    """The whole scenario per Blender series, against one daemon: the first version pays
    for the jobs, the others get identical requests from the daemon's cache (for nothing,
    as an editor would). Computed once per test run, whatever the xdist worker."""
    out: dict[str, dict[str, Any]] = {}
    with locked(shared / ".blender.lock"):
        todo = []
        for version in versions:
            result = shared / f"blender-{version}" / "facts.json"
            if result.exists():
                out[version] = json.loads(result.read_text())
            else:
                todo.append(version)
        if not todo:
            return out
        pythons = {v: bpy_cache() / v / "bin" / "python" for v in todo
                   if (bpy_cache() / v / ".ready").is_file()}
        todo = [v for v in todo if v in pythons]
        if not todo:
            return out
        media = make_media(shared / "media")
        zip_path = build_zip(shared)
        home = shared / "daemon-home"
        home.mkdir(exist_ok=True)
        daemon = Daemon(home)
        try:
            for version in todo:
                out[version] = run_version(pythons[version], version, shared, daemon, media,
                                           zip_path)
        finally:
            daemon.stop()
        first = todo[0]
        out[first]["autostart"] = run_autostart(pythons[first], shared / f"blender-{first}",
                                                zip_path)
        (shared / f"blender-{first}" / "facts.json").write_text(json.dumps(out[first]))
    return out


def run_autostart(python: Path, work: Path, zip_path: Path) -> dict[str, Any]:
    """No daemon runs (a fresh home): the extension starts `kling-bridge serve` itself."""
    home = work / "autostart-home"
    home.mkdir(exist_ok=True)
    fake_home = work / "autostart-user-home"  # no ~/.local/bin/kling-bridge to find there
    fake_home.mkdir(exist_ok=True)
    env = dict(os.environ, KLING_BRIDGE_HOME=str(home), KLING_BRIDGE_PROVIDER="draft",
               BLENDER_USER_RESOURCES=str(work / "autostart-user"), HOME=str(fake_home))
    exe = str(Path(sys.executable).parent / "kling-bridge")
    try:
        facts = run_blender(python, ("autostart",), work, env, "--zip", str(zip_path),
                            "--exe", exe)["autostart"]
    except Exception:
        return {"harness_error": traceback.format_exc()}
    finally:
        discovery = home / "config" / "daemon.json"
        if discovery.exists():  # the daemon the extension started (its pid, nothing broader)
            try:
                pid = json.loads(discovery.read_text())["pid"]
                os.kill(pid, signal.SIGTERM)
            except (ValueError, KeyError, ProcessLookupError):
                pass
    return facts


def run_version(python: Path, version: str, shared: Path, daemon: Daemon, media: Path,
                zip_path: Path) -> dict[str, Any]:
    work = shared / f"blender-{version}"
    work.mkdir(exist_ok=True)
    env = dict(daemon.env, BLENDER_USER_RESOURCES=str(work / "blender-user"))
    common = ("--zip", str(zip_path), "--media", str(media), "--work", str(work))
    facts: dict[str, Any] = {}
    try:
        facts.update(run_blender(python, ("main",), work, env, *common))
        pending = facts["main"].get("pending_batch")
        if pending:
            # Blender is closed; the jobs finish in the daemon meanwhile (the one whose
            # answer was lost too: the daemon made it, only the file does not know its id).
            facts["pending_final"] = daemon.client.wait_batch(pending, timeout=300,
                                                              interval=0.1)["state"]
            lost = facts["main"].get("lost_batch")
            if lost:
                facts["lost_final"] = daemon.client.wait_batch(lost, timeout=300,
                                                               interval=0.1)["state"]
        # A fresh Blender opens the file (reopen), then goes on with the other phases
        # (each from an empty file): one Blender start-up for three phases.
        later = ("reopen", "headless", "chains") if pending else ("headless", "chains")
        facts.update(run_blender(python, later, work, env, *common))
    except Exception:
        # Kept like a result, so every test of this version fails at once with it instead
        # of running Blender again.
        facts["harness_error"] = traceback.format_exc()
    (work / "facts.json").write_text(json.dumps(facts))
    return facts


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_dir(tmp_path_factory)


@pytest.fixture(scope="module", params=series())
def blender(request: pytest.FixtureRequest, shared: Path) -> Iterator[dict[str, Any]]:
    version = request.param
    bpy_python(version)  # skip (or fail in CI) before running anything
    facts = run_versions(series(), shared)[version]
    if "harness_error" in facts:
        pytest.fail(f"Blender {version}: " + facts["harness_error"], pytrace=False)
    yield facts
