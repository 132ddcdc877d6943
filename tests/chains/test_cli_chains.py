"""The chains from the command line, as the README shows them: with no daemon running (the
command starts one in its own process), on the draft provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kling_bridge.cli import main
from kling_bridge.media.synth import make_still
from tests.chains.small import daemons_render_small
from tests.media.test_comparison import read_columns


@pytest.fixture(autouse=True)
def _small(monkeypatch: pytest.MonkeyPatch) -> None:
    daemons_render_small(monkeypatch)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    """Exit code and the JSON answer (or ``{"text", "err"}`` when it printed words)."""
    code = main(list(argv))
    seen = capsys.readouterr()
    if seen.out.strip().startswith("{"):
        return code, json.loads(seen.out)
    return code, {"text": seen.out, "err": seen.err}


def test_generate_then_two_looks_compared(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, plan = run(capsys, "generate", "--prompt", "a harbour at dawn", "--duration", "3",
                     "--resolution", "720p", "--then", "film-noir", "--then", "watercolor",
                     "--dry-run", "--json")
    assert code == 0 and [j["kind"] for j in plan["jobs"]] == ["generate", "restyle", "restyle"]
    code, done = run(capsys, "generate", "--prompt", "a harbour at dawn", "--duration", "3",
                     "--resolution", "720p", "--then", "film-noir", "--then", "watercolor",
                     "--compare", "--out", str(out), "--json")
    assert code == 0, done
    assert done["state"] == "succeeded" and len(done["jobs"]) == 3
    (picture,) = done["comparisons"]
    assert Path(picture).parent == out
    seen = read_columns(Path(picture), 3, 320, 180)
    assert [c["number"] for c in seen] == [0, 1, 2]  # the generated clip, then its looks
    assert sum(1 for w in done["written"] if w.endswith((".mov", ".mp4"))) == 3


def test_characters_from_the_command_line(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    still = make_still(tmp_path / "ada.png", 512, 512)
    code, added = run(capsys, "character", "add", "Ada", str(still), "--project", "ep1",
                      "--json")
    assert code == 0 and added["sent_as"] == "refer_image"
    code, _ = run(capsys, "character", "rename", "ada", "Ada L", "--project", "ep1")
    assert code == 0
    code, listed = run(capsys, "character", "list", "--project", "ep1", "--json")
    assert [e["name"] for e in listed["elements"]] == ["Ada L"]
    code, done = run(capsys, "generate", "--prompt", "Ada at the window", "--duration", "3",
                     "--resolution", "720p", "--character", "Ada L", "--project", "ep1",
                     "--json")
    assert code == 0, done
    assert done["jobs"][0]["result"]["metadata"]["characters"] == ["Ada L"]
    code, said = run(capsys, "generate", "--prompt", "x", "--character", "Nobody",
                     "--project", "ep1")
    assert code == 2 and "no character called 'Nobody'" in said["err"]
    code, gone = run(capsys, "character", "remove", "Ada L", "--project", "ep1", "--json")
    assert code == 0 and not Path(gone["images"][0]).exists()
    assert still.exists()  # the editor's own file is never touched


def test_restyle_more_like_this_then_apply_a_look(capsys: pytest.CaptureFixture[str],
                                                  editors_clips: list[Path]) -> None:
    code, done = run(capsys, "restyle", str(editors_clips[0]), "--preset", "anime-cel",
                     "--resolution", "720p", "--more-like-this", "--broll-duration", "3",
                     "--json")
    assert code == 0, done
    assert [j["kind"] for j in done["jobs"]] == ["restyle", "generate"]
    assert done["chains"][0]["state"] == "succeeded"
    code, rest = run(capsys, "restyle", str(editors_clips[1]), "--apply-look", "anime-cel",
                     "--from-batch", done["batch_id"], "--json")
    assert code == 0, rest
    (job,) = rest["jobs"]
    assert job["spec"]["look"]["preset"] == "anime-cel" and job["state"] == "succeeded"


@pytest.mark.parametrize(("argv", "words"), [
    (["restyle", "{clip}", "--preset", "fog", "--broll-at", "gap"], "go with --more-like-this"),
    (["restyle", "{clip}", "--apply-look", "2"], "needs --from-batch"),
    (["restyle", "{clip}", "--apply-look", "j" + "0" * 23, "--preset", "fog"], "not both"),
    (["generate", "--like", "/no/such/clip.mov", "--prompt", "x"], "neither a job id"),
    (["generate", "--prompt", "x", "--then", "fog", "--compare"], "two or more --then"),
    (["generate", "--prompt", "x", "--then", "noir"], "no such preset"),
    (["generate", "--next-shot", "j" + "0" * 23, "--audio"], "silent"),
])
def test_chain_flags_misused_are_explained(capsys: pytest.CaptureFixture[str],
                                           editors_clips: list[Path], argv: list[str],
                                           words: str) -> None:
    argv = [a.replace("{clip}", str(editors_clips[0])) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "what to do" in err, err
