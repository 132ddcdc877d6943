"""The same hostile inputs through the command line, as a user types them.

Each command must end (no hang), exit non-zero, say what was wrong in one readable line
(never a traceback), and leave the inputs as they were.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .corpus import Sandbox, fingerprint, make_sandbox
from .served import BIN, Served, env_for, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    return make_sandbox(tmp_path_factory.mktemp("cli-inputs"))


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = serve(tmp_path_factory.mktemp("cli-home"))
    yield served
    served.stop()


def cli(home: Path, *args: str, cwd: Path | None = None,
        **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env_for(home, **env))


CASES: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("device as clip", ["restyle", "/dev/zero", "--preset", "film-noir"], ("/dev",)),
    ("FIFO as clip", ["restyle", "{fifo}", "--preset", "film-noir"], ("named pipe",)),
    ("FIFO as timeline", ["restyle", "{fifo_timeline}", "--preset", "film-noir"],
     ("named pipe",)),
    ("text named .aaf", ["restyle", "{fake_aaf}", "--preset", "film-noir", "--dry-run"],
     ("cut.aaf",)),
    ("XML bomb", ["restyle", "{bomb_xml}", "--preset", "film-noir", "--dry-run"],
     ("bomb.xml",)),
    ("70 MB timeline", ["restyle", "{huge_fcpxml}", "--preset", "film-noir", "--dry-run"],
     ("MB",)),
    ("deep OTIO", ["restyle", "{deep_otio}", "--preset", "film-noir", "--dry-run"],
     ("deep.otio",)),
    ("device as image", ["generate", "--prompt", "x", "--image", "/dev/zero"], ("/dev",)),
    ("FIFO as dialogue", ["lipsync", "--audio", "{fifo}", "--image", "{still}"],
     ("named pipe",)),
    ("folder as clip", ["restyle", "{folder}", "--preset", "film-noir"], ("folder",)),
    ("missing clip", ["restyle", "nowhere/clip.mov", "--preset", "film-noir"],
     ("no such file",)),
    ("unknown preset", ["restyle", "{clip}", "--preset", "../../etc", "--dry-run"],
     ("preset",)),
    ("bad shot", ["generate", "--shot", "soon:a street"], ("--shot",)),
]


@pytest.mark.parametrize(("name", "args", "words"), CASES, ids=[c[0] for c in CASES])
def test_hostile_command_lines_end_with_a_clear_error(daemon: Served, sandbox: Sandbox,
                                                      tmp_path: Path, name: str,
                                                      args: list[str],
                                                      words: tuple[str, ...]) -> None:
    before = fingerprint(sandbox.root)
    argv = [a.format(**{k: getattr(sandbox, k) for k in ("fifo", "fifo_timeline", "fake_aaf",
                                                         "bomb_xml", "huge_fcpxml", "deep_otio",
                                                         "still", "folder", "clip")})
            for a in args]
    done = cli(daemon.home, *argv, cwd=tmp_path)
    said = done.stderr + done.stdout
    assert done.returncode != 0, said
    assert "Traceback" not in said, said
    assert all(w.lower() in said.lower() for w in words), said
    assert fingerprint(sandbox.root) == before
    assert list(tmp_path.iterdir()) == []  # nothing written where the user stood
    assert daemon.alive()


def test_serve_twice_and_serve_on_every_interface_are_refused(daemon: Served,
                                                              tmp_path: Path) -> None:
    again = cli(daemon.home, "serve")
    assert again.returncode != 0 and "already running" in again.stderr, again.stderr
    wide = cli(tmp_path / "other-home", "serve", KLING_BRIDGE_HOST="0.0.0.0")
    assert wide.returncode != 0 and "not a loopback address" in wide.stderr, wide.stderr
    assert "Traceback" not in again.stderr + wide.stderr
