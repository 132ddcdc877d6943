"""The command line speaks to people (issue 10, part 3), tried as a new user would.

No traceback anywhere; refusals in the CLI's words (flags, ranges, units) and JSON on stdout
with ``--json``; ``--out`` checked before anything is sent; the dry-run plan; ``stop``,
``presets``, ``serve``/``status`` naming the config folder, ``doctor``'s exit code; every
option's help; the provider asked for versus the running daemon's; no result timeline when
every job of a batch failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from kling_bridge.cli import build_parser, main
from kling_bridge.cli_checks import CliError, in_cli_words
from kling_bridge.cli_output import export_to
from kling_bridge.client import BridgeError
from kling_bridge.config import Paths
from kling_bridge.jobs.store import JobStore
from kling_bridge.media.synth import make_clip
from tests.cli_run import cli
from tests.test_crash_recovery import start

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kling_bridge.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli-media")
    make_clip(d / "A001.mov", width=192, height=108, frames=75, rate="25")
    make_clip(d / "A002.mov", width=192, height=108, frames=75, rate="25")
    return d


def write_timeline(folder: Path, media: list[Path], name: str = "edit.otio",
                   title: bool = False) -> Path:
    tl = otio.schema.Timeline(name="cut", global_start_time=otio.opentime.RationalTime(0, 25))
    track = otio.schema.Track(name="V1")
    for path in media:
        ref = otio.schema.ExternalReference(
            target_url=path.as_uri(), available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, 25), otio.opentime.RationalTime(75, 25)))
        track.append(otio.schema.Clip(name=path.stem, media_reference=ref,
                                      source_range=otio.opentime.TimeRange(
                                          otio.opentime.RationalTime(10, 25),
                                          otio.opentime.RationalTime(40, 25))))
    if title:
        track.append(otio.schema.Clip(
            name="Title", media_reference=otio.schema.GeneratorReference(generator_kind="Text"),
            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, 25),
                                                 otio.opentime.RationalTime(25, 25))))
    tl.tracks.append(track)
    dest = folder / name
    otio.adapters.write_to_file(tl, str(dest))
    return dest


def nothing_created() -> bool:
    paths = Paths.resolve()
    if not paths.database.exists():
        return True
    store = JobStore(paths.database)
    try:
        return store.query(limit=10) == []
    finally:
        store.close()


# --------------------------------------------------------------- no traceback, kling unset


@pytest.mark.parametrize(("how", "verb"), [
    ("env", ["restyle", "CLIP", "--preset", "film-noir"]),
    ("config", ["generate", "--prompt", "rain"]),
    ("flag", ["generate", "--prompt", "rain", "--dry-run"]),
    ("env", ["restyle", "CLIP", "--preset", "film-noir", "--dry-run"]),
])
def test_kling_without_a_credential_says_how_to_log_in(
    how: str, verb: list[str], footage: Path, bridge_home: Path
) -> None:
    args = [str(footage / "A001.mov") if a == "CLIP" else a for a in verb]
    env: dict[str, str] = {}
    if how == "env":
        env["KLING_BRIDGE_PROVIDER"] = "kling"
    elif how == "config":
        paths = Paths.resolve().ensure()
        paths.config_file.write_text('provider = "kling"\n')
    else:
        args += ["--provider", "kling"]
    proc = cli(*args, env=env)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "kling-bridge login" in proc.stderr and "KLING_API_KEY" in proc.stderr
    assert {"env": "KLING_BRIDGE_PROVIDER=kling", "config": "config.toml",
            "flag": "--provider kling"}[how] in proc.stderr  # says where kling came from
    as_json = cli(*args, "--json", env=env)
    error = json.loads(as_json.stdout)["error"]  # refusals are JSON on stdout with --json
    assert error["code"] == "no_credential" and "KLING_API_KEY" in error["hint"]
    assert nothing_created()


def test_an_unexpected_error_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import kling_bridge.cli as cli

    def broken(args: argparse.Namespace, paths: Paths) -> int:
        raise RuntimeError("boom")

    monkeypatch.setitem(cli.COMMANDS, "status", broken)
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert "unexpected error: RuntimeError: boom" in err and "KLING_BRIDGE_DEBUG" in err
    assert "Traceback" not in err


# --------------------------------------------------------------- --out before anything


@contextmanager
def tmpfs(path: Path, *options: str) -> Iterator[Path]:
    path.mkdir()
    opts = ",".join(["size=1m", *options])
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def _refused_out(capsys: pytest.CaptureFixture[str], out: Path, clip: Path) -> str:
    assert main(["restyle", str(clip), "--preset", "film-noir", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kling-bridge: --out {out}") and "what to do" in err
    assert nothing_created()  # refused before anything was rendered or paid
    return err


def test_out_naming_a_file_is_refused_first(tmp_path: Path, footage: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.mov"
    out.write_bytes(b"an editor's file")
    assert "is a file, not a folder" in _refused_out(capsys, out, footage / "A001.mov")
    assert out.read_bytes() == b"an editor's file"


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux /sys")
def test_unwritable_out_is_refused_first(footage: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # /sys takes no new folders, even for root: an unwritable place anywhere.
    err = _refused_out(capsys, Path("/sys/kling-bridge-results"), footage / "A001.mov")
    assert "cannot write there" in err


def test_read_only_out_is_refused_first(tmp_path: Path, footage: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with tmpfs(tmp_path / "ro", "ro") as ro:
        err = _refused_out(capsys, ro, footage / "A001.mov")
        assert "read-only" in err
        assert list(ro.iterdir()) == []


def test_full_out_is_refused_before_anything_is_created(
    tmp_path: Path, footage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tmpfs(tmp_path / "small") as small:
        err = _refused_out(capsys, small, footage / "A001.mov")
        assert "MB free; the results need about" in err
        assert list(small.iterdir()) == []  # no .part, no test file


def test_a_copy_that_runs_out_of_space_leaves_no_part_file(tmp_path: Path) -> None:
    from kling_bridge.export import place_copy

    big = tmp_path / "result.mov"
    big.write_bytes(os.urandom(1_500_000))
    with tmpfs(tmp_path / "small") as small:
        with pytest.raises(OSError):
            place_copy(big, small)  # what the daemon's export does for each output
        assert list(small.iterdir()) == []


def test_a_failed_export_names_out_and_where_the_results_are(tmp_path: Path) -> None:
    class RefusingDaemon:  # the daemon's answer when its copy into --out failed
        def export_batch(self, batch_id: str, folder: str, fmt: str | None) -> None:
            raise BridgeError("export_failed", f"{folder}: cannot write there (No space left "
                              "on device)", "choose a folder you can write to", 400)

    with pytest.raises(CliError) as caught:
        export_to(RefusingDaemon(), "b123", tmp_path / "out", None)  # type: ignore[arg-type]
    assert caught.value.message.startswith(f"--out {tmp_path / 'out'}: could not copy")
    assert "No space left on device" in caught.value.message
    assert "kling-bridge jobs --batch b123" in caught.value.hint


# --------------------------------------------------------------- the CLI's own words


def test_values_are_refused_with_flag_range_and_unit(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, words in [
        (["generate", "--prompt", "x", "--duration", "20"], "--duration must be 3–15 s (got 20)"),
        (["generate", "--prompt", "x", "--variants", "9"], "--variants must be 1–8 (got 9)"),
        (["restyle", "x.mov", "--handles", "-1"], "--handles must be 0–240 frames (got -1)"),
        (["generate"], "generate needs --prompt WORDS, --shot SECONDS:WORDS or --image FILE"),
        (["generate", "--shot", "9:a", "--shot", "9:b"], "they must total 3-15 s"),
        (["lipsync", "--audio", "x.wav"], "--video CLIP or --image STILL"),
    ]:
        with pytest.raises(SystemExit) if "must be" in words else _nothing():
            code = main(argv)
            assert code == 2
        err = capsys.readouterr().err
        assert words in err, (argv, err)
        assert "openapi" not in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["generate", "--prompt", "x", "--duration", "20", "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["message"] == "--duration must be 3–15 s (got 20)"


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def test_api_words_become_flags() -> None:
    assert in_cli_words("bad_request", "duration: Input should be less than or equal to 15",
                        "see /v1/openapi.json for the request shape", "generate") == (
        "--duration must be at most 15", "see kling-bridge generate --help for the values it takes")
    _, hint = in_cli_words("no_prompt", "a generation needs a prompt",
                                 "describe the shot you want in 'prompt'")
    assert hint == "describe the shot you want in --prompt"


def test_a_preset_typo_names_the_nearest(footage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["restyle", str(footage / "A001.mov"), "--preset", "film-nior"]) == 2
    err = capsys.readouterr().err
    assert "did you mean --preset film-noir?" in err and "kling-bridge presets" in err


def test_an_empty_selection_explains_the_marked_default(
    tmp_path: Path, footage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timeline = write_timeline(tmp_path, [footage / "A001.mov"])
    assert main(["restyle", str(timeline), "--preset", "film-noir", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "'marked'" in err and "default" in err
    assert "--select all" in err and "--select color:" in err


# --------------------------------------------------------------- the dry-run plan


def test_dry_run_shows_the_plan_in_text_and_json(
    tmp_path: Path, footage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timeline = write_timeline(tmp_path, [footage / "A001.mov", footage / "A002.mov",
                                         tmp_path / "A404 offline.mov"], title=True)
    argv = ["restyle", str(timeline), "--select", "all", "--preset", "film-noir",
            "--preset", "watercolor", "--dry-run"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "4 job(s), free (draft); nothing was created" in text
    for name in ("A001", "A002"):
        for look in ("film-noir", "watercolor"):
            assert f"restyle {name}: frames 10-49 (40 at 25 fps, timeline +" in text
            assert f"{look}: free" in text
    assert "skipped (1):\n  Title: generator or title" in text
    assert "media missing (1)" in text and f"A404 offline: media not found at {tmp_path}" in text
    assert main([*argv, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["dry_run"] is True and len(plan["jobs"]) == 4
    assert {j["state"] for j in plan["jobs"]} == {"planned"}
    assert {(j["spec"]["source"]["start_frame"], j["spec"]["source"]["frame_count"])
            for j in plan["jobs"]} == {(10, 40)}
    assert {s["name"] for s in plan["skipped"]} == {"Title", "A404 offline"}
    assert nothing_created()


# --------------------------------------------------------------- verbs


def test_presets_lists_id_and_name_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    noir = next(line for line in lines if line.startswith("film-noir "))
    assert "Film noir:" in noir
    assert main(["presets", "--json"]) == 0
    ids = [p["id"] for p in json.loads(capsys.readouterr().out)["presets"]]
    assert "film-noir" in ids and "watercolor" in ids


def test_serve_prints_address_and_config_folder_and_stop_stops_it(bridge_home: Path) -> None:
    paths = Paths.resolve()
    proc = subprocess.Popen([sys.executable, "-m", "kling_bridge.cli", "serve", "--port", "0"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("kling-bridge ") and "listening on http://127.0.0.1:" in first
        assert proc.stdout.readline().strip() == f"config folder: {paths.config_dir}"
        status = run("status")  # a real second process, as from another terminal
        assert status.returncode == 0 and f"config folder: {paths.config_dir}" in status.stdout
        stopped = cli("stop")
        assert stopped.returncode == 0 and f"pid {proc.pid}" in stopped.stdout
        assert proc.wait(timeout=30) == 0
        assert not paths.discovery_file.exists()
        again = cli("stop")
        assert again.returncode == 3 and "not running" in again.stdout
        gone = cli("status", "--json")
        assert json.loads(gone.stdout)["config_dir"] == str(paths.config_dir)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)


def test_doctor_exits_non_zero_when_a_check_fails(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KLING_BRIDGE_PROVIDER", "kling")  # and no credential: a failed check
    assert main(["doctor"]) == 1
    assert "✗  credentials" in capsys.readouterr().out
    assert main(["doctor", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def _options(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for where, opt in _options(sub):
                    yield f"{name} {where}", opt
        elif action.option_strings and action.dest not in ("help", "version"):
            yield action.option_strings[0], action


def test_every_option_says_its_default_and_numbers_their_range_and_unit() -> None:
    parser = build_parser()
    checked = 0
    for where, action in _options(parser):
        text = (action.help or "") % {"default": action.default}
        assert "default" in text or action.required, f"{where}: {text!r} gives no default"
        if action.type is not None and action.type not in (str, Path):  # a number
            assert "–" in text or "-" in text or "or more" in text, f"{where}: no range"
        checked += 1
    assert checked > 40
    helps = {name: sub.format_help() for name, sub in
             next(a for a in parser._actions
                  if isinstance(a, argparse._SubParsersAction)).choices.items()}
    assert "seconds, 3-15" in helps["generate"] and "frames of handles" in helps["restyle"]
    assert "AAF" in helps["restyle"] and "aaf" in helps["restyle"]  # wherever formats are


def test_aaf_is_listed_wherever_the_readme_lists_formats() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in readme.splitlines():
        if "FCPXML" in line and ("EDL" in line or "edl" in line):
            assert "AAF" in line or "aaf" in line, line


# --------------------------------------------------------------- the running daemon


def test_a_running_daemon_without_the_provider_asked_for_says_so(
    tmp_path: Path, bridge_home: Path
) -> None:
    proc = start(bridge_home, tmp_path / "provider")  # its only provider: "fake"
    try:
        asked = cli("generate", "--prompt", "rain", env={"KLING_BRIDGE_PROVIDER": "kling"})
        no_traceback(asked)
        assert asked.returncode == 2
        assert "you asked for kling (KLING_BRIDGE_PROVIDER=kling)" in asked.stderr
        assert "has no kling provider (it offers fake)" in asked.stderr
        assert "kling-bridge login" in asked.stderr and "kling-bridge stop" in asked.stderr
        plain = cli("generate", "--prompt", "rain", "--dry-run")
        assert plain.returncode == 0 and "the running daemon uses fake" in plain.stderr
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_no_result_timeline_when_every_job_failed(
    tmp_path: Path, footage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "B001 broken.mov"
    broken.write_bytes((footage / "A001.mov").read_bytes()[:3000])  # present, unreadable
    timeline = write_timeline(tmp_path, [broken], name="cut.otio")
    out = tmp_path / "out"
    code = main(["restyle", str(timeline), "--select", "all", "--preset", "film-noir",
                 "--out", str(out), "--wait", "--json"])
    final: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert code == 1 and {j["state"] for j in final["jobs"]} == {"failed"}
    assert final["written"] == [] and "no result timeline written" in final["notes"][0]
    assert sorted(p.name for p in out.iterdir()) == []  # no cut.kling.otio
