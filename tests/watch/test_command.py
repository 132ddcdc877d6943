"""``kling-bridge watch`` and ``kling-bridge status`` as an editor runs them.

Beside a running daemon (a real subprocess with the fake provider) the command works the
folder through the daemon's HTTP API; with none running it is the daemon itself.
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

from kling_bridge.cli import main
from kling_bridge.client import BridgeClient, BridgeError
from kling_bridge.config import Paths
from tests.fakes.provider import FakeProvider

ROOT = Path(__file__).resolve().parents[2]


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != "README.txt" and not p.name.startswith("."))


@pytest.fixture
def daemon(bridge_home: Path, tmp_path: Path):
    """The real daemon in a subprocess (fake provider), sharing this test's home."""
    paths = Paths.resolve()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.daemon",
                             str(tmp_path / "provider"), "--delay", "0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
        try:
            BridgeClient.discover(str(paths.discovery_file), timeout=2).health()
            break
        except BridgeError:
            time.sleep(0.05)
    yield proc
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def test_init_lays_the_folder_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "Kling Watch"
    assert main(["watch", "--init", str(folder)]) == 0
    assert (folder / "restyle" / "film-noir" / "README.txt").is_file()
    assert (folder / "generate" / "README.txt").is_file()
    assert "restyle/<look>/" in capsys.readouterr().out


def test_once_beside_a_running_daemon_goes_through_its_api(
        daemon: subprocess.Popen[bytes], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "watch"
    (folder / "generate").mkdir(parents=True)
    (folder / "generate" / "fox.txt").write_text("a fox in the snow")
    (folder / "generate" / "city.toml").write_text('prompt = "city at night"\nduration = 4\n')
    assert main(["watch", "--once", "--stable", "0.2", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "through the daemon at http://127.0.0.1:" in captured.err
    assert captured.out.count("done") == 2
    assert files(folder / "processed") == ["generate/city.toml", "generate/fox.txt"]
    assert len(files(folder / "out")) == 2
    fake = FakeProvider(tmp_path / "provider")
    assert len(fake.created()) == 2
    client = BridgeClient.discover(str(Paths.resolve().discovery_file))
    prompts = sorted(j["spec"]["prompt"] for j in client.jobs()["jobs"])
    assert prompts == ["a fox in the snow", "city at night"]
    # Again: the same files are recognised, nothing new is made.
    (folder / "generate" / "fox.txt").write_text("a fox in the snow")
    assert main(["watch", "--once", "--stable", "0.2", str(folder)]) == 0
    assert "already done" in capsys.readouterr().out
    assert len(client.jobs()["jobs"]) == 2


def test_once_without_a_daemon_is_the_daemon_and_reports_failures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "watch"
    (folder / "restyle" / "film-noir").mkdir(parents=True)
    (folder / "restyle" / "film-noir" / "broken.mov").write_bytes(b"not a movie at all")
    assert main(["watch", "--once", "--stable", "0.2", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "this command is the daemon" in captured.err
    assert "failed" in captured.out
    error = (folder / "failed/restyle/film-noir/broken.mov.error.txt").read_text()
    assert "What was wrong:" in error
    assert not Paths.resolve().discovery_file.exists()


def test_status_lists_watched_folders_with_counts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "cuts"
    paths = Paths.resolve().ensure()
    paths.config_file.write_text(f'[[watch]]\npath = "{folder}"\n')
    assert main(["watch", "--init", str(folder)]) == 0
    (folder / "generate" / "a.txt").write_text("waiting")
    (folder / "processed" / "generate").mkdir(parents=True)
    (folder / "processed" / "generate" / "b.txt").write_text("done")
    (folder / "failed" / "generate").mkdir(parents=True)
    (folder / "failed" / "generate" / "c.txt").write_text("failed")
    (folder / "failed" / "generate" / "c.txt.error.txt").write_text("why")
    capsys.readouterr()
    assert main(["status", "--json"]) == 3  # no daemon running
    data = json.loads(capsys.readouterr().out)
    (row,) = data["watch"]
    assert row["folder"] == str(folder)
    assert row["counts"] == {"waiting": 1, "working": 0, "done": 1, "failed": 1}
    assert "not running" in row["watched_by"]
    main(["status"])
    assert f"{folder}: waiting 1, working 0, done 1, failed 1" in capsys.readouterr().out
