"""Fixtures for the Resolve plugin: a real daemon (draft provider), generated media, and an
"editor" that runs the plugin's entry scripts in another Python against the fake Resolve."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PLUGIN = ROOT / "plugins" / "resolve"
SCRIPTS = PLUGIN / "Scripts"
RUNNER = HERE / "run_script.py"

for path in (str(PLUGIN), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

from fake_resolve import FakeResolveApp  # noqa: E402
from kling_bridge_resolve.client import BridgeClient, BridgeError  # noqa: E402

ENTRY = {
    "restyle": SCRIPTS / "Edit" / "Kling Bridge - Restyle.py",
    "restyle-track": SCRIPTS / "Edit" / "Kling Bridge - Restyle to track.py",
    "generate": SCRIPTS / "Edit" / "Kling Bridge - Generate B-roll.py",
    "more-like-this": SCRIPTS / "Edit" / "Kling Bridge - More like this.py",
    "next-shot": SCRIPTS / "Edit" / "Kling Bridge - Next shot.py",
    "compare": SCRIPTS / "Edit" / "Kling Bridge - Compare looks.py",
    "apply-look": SCRIPTS / "Edit" / "Kling Bridge - Apply look to the rest.py",
    "generate-restyle": SCRIPTS / "Edit" / "Kling Bridge - Generate then restyle.py",
    "collect": SCRIPTS / "Edit" / "Kling Bridge - Collect.py",
    "dialog": SCRIPTS / "Utility" / "Kling Bridge.py",
}


@functools.cache
def interpreter(name: str) -> str | None:
    """A Python to run the plugin in (Resolve brings whatever the machine has); looked for
    once per session, not once per script run."""
    if name == "current":
        return sys.executable
    found = shutil.which(name)
    version = name.removeprefix("python")
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(pyenv.glob(f"{version}.*/bin/{name}")) if pyenv.is_dir() else []:
        found = str(candidate)  # pyenv's shim only answers where that version is selected
    if not found:
        return None
    try:
        subprocess.run([found, "-c", "pass"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None  # e.g. a pyenv shim for a version that is not installed
    return found


def need(name: str) -> str:
    found = interpreter(name)
    if found is None:
        pytest.skip(f"{name} is not installed here (pyenv install 3.6 / 3.13 to run this)")
    return found


@dataclass
class Daemon:
    home: Path
    proc: subprocess.Popen[bytes]

    @property
    def discovery(self) -> Path:
        return self.home / "config" / "daemon.json"

    def client(self) -> BridgeClient:
        return BridgeClient.discover(str(self.discovery))


def _serve_command() -> list[str]:
    """``kling-bridge serve``, drafts rendered small (see tests/chains/serve_small.py: no test
    here reads a draft's size, and Kling's sizes were most of these tests' CPU)."""
    return [sys.executable, str(HERE.parent / "chains" / "serve_small.py")]


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """``kling-bridge serve`` in a subprocess, its own KLING_BRIDGE_HOME, the draft provider
    (rendering small: tests/chains/serve_small.py)."""
    home = tmp_path_factory.mktemp("daemon-home")
    env = dict(os.environ, KLING_BRIDGE_HOME=str(home), KLING_BRIDGE_PORT="0")  # any free port
    for key in ("KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "KLING_BRIDGE_PROVIDER"):
        env.pop(key, None)
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(_serve_command(), env=env, stdout=log, stderr=subprocess.STDOUT)
    info = Daemon(home, proc)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError("kling-bridge serve exited: "
                               + (home / "serve.log").read_text(errors="replace"))
        try:
            if info.client().health().get("ready"):
                break
        except BridgeError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("kling-bridge serve did not come up in 60 s")
        time.sleep(0.1)
    try:
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@dataclass
class Run:
    code: int
    console: str


class Editor:
    """One editor's machine: a Resolve session (state file) and a config folder that knows
    the shared daemon; ``run`` starts an entry script the way Resolve does."""

    def __init__(self, root: Path, daemon: Daemon | None) -> None:
        self.root = root
        self.home = root / "home"
        (self.home / "config").mkdir(parents=True, exist_ok=True)
        if daemon is not None:
            shutil.copy(daemon.discovery, self.home / "config" / "daemon.json")
        self.state = root / "resolve-session.json"

    def use_port(self, port: int) -> None:
        """Point this machine's discovery file at ``port`` (a proxy in front of the daemon)."""
        path = self.home / "config" / "daemon.json"
        data = json.loads(path.read_text())
        data["port"] = port
        path.write_text(json.dumps(data))

    @property
    def settings_file(self) -> Path:
        return self.home / "config" / "resolve.json"

    @property
    def ledger_file(self) -> Path:
        return self.home / "config" / "resolve-batches.json"

    def settings(self, **values: Any) -> None:
        base = json.loads(self.settings_file.read_text()) if self.settings_file.exists() else {}
        base.update(values)
        self.settings_file.write_text(json.dumps(base, indent=2))

    def save(self, app: FakeResolveApp) -> None:
        app.save(str(self.state))

    def load(self) -> FakeResolveApp:
        return FakeResolveApp.load(str(self.state))

    def run(self, action: str, python: str = "current", *, external: bool = False,
            no_file: bool = False, env: dict[str, str] | None = None,
            timeout: float = 240) -> Run:
        command = [need(python), str(RUNNER), str(self.state), str(ENTRY[action])]
        if external:
            command.append("--external")
        if no_file:
            command.append("--no-file")
        # A waiting script asks the daemon every 0.2 s, not every second: it stops waiting
        # when the small drafts are done (the waits, not the work, were most of these tests'
        # wall time); what it waits for and for how long are the editor's settings, unchanged.
        environ = {**os.environ, "KLING_BRIDGE_HOME": str(self.home),
                   "PYTHONDONTWRITEBYTECODE": "1", "KLING_BRIDGE_RESOLVE_POLL_SECONDS": "0.2",
                   **(env or {})}
        environ.pop("PYTHONPATH", None)  # Resolve's Python knows nothing of this checkout
        done = subprocess.run(command, env=environ, capture_output=True, text=True,
                              timeout=timeout, cwd=str(self.root))
        return Run(done.returncode, done.stdout + done.stderr)


@pytest.fixture
def editor(tmp_path: Path, daemon: Daemon) -> Editor:
    return Editor(tmp_path, daemon)


@pytest.fixture
def offline_editor(tmp_path: Path) -> Editor:
    """An editor whose daemon is not running."""
    return Editor(tmp_path, None)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small camera-like clips (timecode, sound) at the three rates the tests cut with."""
    from kling_bridge.media.synth import make_clip

    folder = tmp_path_factory.mktemp("camera")
    clips = {}
    for name, rate, frames, timecode in (("24", "24", 48, "10:00:00:00"),
                                         ("25", "25", 50, "00:00:00:00"),
                                         ("29.97", "30000/1001", 60, "01:00:00:00")):
        clips[name] = make_clip(folder / f"cam {name} #1.mov", width=160, height=90, rate=rate,
                                frames=frames, timecode=timecode, pattern="testsrc2")
    return clips
