"""The command line against a real daemon subprocess (durable fake provider) and alone."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kling_bridge.cli import main
from kling_bridge.config import Paths
from tests.cli_run import cli
from tests.test_crash_recovery import start

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kling_bridge.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One real daemon subprocess (durable fake provider) for this module's tests that talk
    to a running daemon: each works in its own batch, so starting one each bought nothing."""
    home = tmp_path_factory.mktemp("cli-daemon-home")
    proc = start(home, home.parent / (home.name + "-provider"), delay=0.1)
    try:
        yield home
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def daemon_home(shared_daemon: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's KLING_BRIDGE_HOME is the running daemon's."""
    monkeypatch.setenv("KLING_BRIDGE_HOME", str(shared_daemon))
    return shared_daemon


def test_status_without_daemon_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 3
    out = capsys.readouterr().out
    assert "not running" in out and "kling-bridge serve" in out
    assert main(["status", "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["running"] is False


def test_login_refuses_without_keyring_then_stores_0600_file_on_opt_in(bridge_home: Path) -> None:
    secret = "sk-test-0123456789abcdef"
    # A real process first: a user's fresh process finds no keyring backend on this machine.
    refused = run("login", "--from-stdin", stdin=secret)
    assert refused.returncode == 2
    assert "No keyring backend" in refused.stderr and "Nothing was stored" in refused.stderr
    assert secret not in refused.stderr + refused.stdout
    paths = Paths.resolve()
    assert not paths.credentials_file.exists()
    ok = cli("login", "--from-stdin", "--insecure-file", stdin=secret)
    assert ok.returncode == 0, ok.stderr
    assert stat.S_IMODE(paths.credentials_file.stat().st_mode) == 0o600
    status = cli("status", "--json")
    cred = json.loads(status.stdout)["credentials"]
    assert cred["source"] == "file" and cred["kind"] == "api_key"
    assert secret not in status.stdout + status.stderr
    out = cli("logout")
    assert out.returncode == 0 and "file" in out.stdout
    assert not paths.credentials_file.exists()


def test_generate_wait_jobs_cancel_retry_against_running_daemon(
    tmp_path: Path, daemon_home: Path
) -> None:
    command = ("generate", "--prompt", "rain on a tin roof", "--duration", "4", "--wait",
               "--out", str(tmp_path / "out"), "--json")
    done = cli(*command)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["state"] == "succeeded" and len(answer["written"]) == 1
    assert Path(answer["written"][0]).read_text().startswith("output of")
    again = cli(*command)  # the same command again: a new file, the first kept
    written = json.loads(again.stdout)["written"][0]
    assert written != answer["written"][0] and Path(answer["written"][0]).exists()
    queued = json.loads(cli("generate", "--prompt", "FAILME", "--json").stdout)
    job_id = queued["jobs"][0]["id"]
    listing = cli("jobs", "--json")
    assert job_id in {j["id"] for j in json.loads(listing.stdout)["jobs"]}
    table = cli("jobs")
    assert "STATE" in table.stdout and job_id in table.stdout
    bad = cli("cancel", "j" + "0" * 23)
    assert bad.returncode == 2 and "no job" in bad.stderr
    dry = cli("generate", "--prompt", "x", "--duration", "10", "--dry-run")
    assert dry.returncode == 0 and "about 10 units" in dry.stdout


def test_failed_job_makes_wait_exit_non_zero(daemon_home: Path) -> None:
    failed = cli("generate", "--prompt", "FAILME please", "--wait")
    assert failed.returncode == 1
    assert "the model refused" in failed.stdout


def test_bad_usage_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["restyle", "/no/such/clip.mov"]) == 2
    err = capsys.readouterr().err
    assert "/no/such/clip.mov" in err and "what to do" in err
    assert main(["generate", "--shot", "three:words"]) == 2
    assert "SECONDS:WORDS" in capsys.readouterr().err


def test_copies_into_out_never_overwrite(tmp_path: Path) -> None:
    from kling_bridge.export import place_copy

    src = tmp_path / "take.mp4"
    src.write_bytes(b"one")
    out = tmp_path / "out"
    first = place_copy(src, out)
    src.write_bytes(b"two")
    second = place_copy(src, out)
    assert first.name == "take.mp4" and second.name == "take (2).mp4"
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two"
    assert sorted(p.name for p in out.iterdir()) == ["take (2).mp4", "take.mp4"]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two clips the restyle tests only read: made once for the three formats."""
    from kling_bridge.media.synth import make_clip

    folder = tmp_path_factory.mktemp("cli-shots")
    return [make_clip(folder / f"shot {n}.mov", frames=75, rate="25") for n in (1, 2)]


@pytest.mark.parametrize("suffix", [".otio", ".fcpxml", ".xml"])
def test_restyle_timeline_writes_result_timeline_in_its_format(
    tmp_path: Path, daemon_home: Path, shots: list[Path], suffix: str
) -> None:
    import opentimelineio as otio

    from kling_bridge.timeline import new_clips, read_timeline, write_timeline
    from kling_bridge.timeline.paths import path_from_url
    from tests.api.test_timeline_api import plugin_timeline

    timeline = otio.adapters.read_from_string(
        json.dumps(plugin_timeline(shots, marked=False)), "otio_json"
    )
    source = write_timeline(timeline, tmp_path / f"edit{suffix}")
    before = source.read_bytes()
    done = cli(
        "restyle",
        str(source),
        "--select",
        "all",
        "--preset",
        "film-noir",
        "--out",
        str(tmp_path / "out"),
        "--wait",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    result_file = Path(answer["written"][-1])
    assert result_file.name == f"edit.kling{suffix}" and result_file.parent == tmp_path / "out"
    result = read_timeline(result_file).timeline
    added = new_clips(result)  # found by provenance, which every format carries
    assert len(added) == 2
    assert {c.metadata["kling_bridge"]["preset"] for c in added} == {"film-noir"}
    for clip in added:  # linked to the copies in --out, not the daemon's data folder
        linked = Path(path_from_url(clip.media_reference.target_url) or "")
        assert linked.parent == tmp_path / "out" and linked.is_file()
        assert str(linked) in answer["written"]
    assert source.read_bytes() == before  # the editor's file is never touched
