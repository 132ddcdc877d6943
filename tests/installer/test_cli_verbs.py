"""``kling-bridge install`` / ``uninstall`` as a user types them (this machine's layout, a
temporary HOME): the dry run, the JSON answer, the exit codes and the errors that say what
to do."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from kling_bridge.cli import main
from tests.installer.conftest import resolve_files

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="paths written for Linux")


@pytest.fixture
def user(tmp_path: Path, plugins_tree: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("KLING_BRIDGE_PLUGINS", str(plugins_tree))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "BLENDER"):
        monkeypatch.delenv(var, raising=False)
    return home


def test_dry_run_json_then_install_then_uninstall(user: Path, plugins_tree: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    scripts = user / ".local/share/DaVinciResolve/Fusion/Scripts"
    menus, _ = resolve_files(plugins_tree)

    assert main(["install", "--resolve", "--dry-run", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["dry_run"] is True
    targets = {s["target"] for s in answer["steps"] if s["action"] == "write"}
    assert {str(scripts / m) for m in menus} <= targets
    assert not scripts.exists()

    assert main(["install", "--resolve"]) == 0
    out = capsys.readouterr().out
    assert "kling-bridge install" in out and "Workspace > Scripts" in out
    assert "kling-bridge login" in out  # the offer: drafts work without an account
    assert all((scripts / m).is_file() for m in menus)

    assert main(["install", "--resolve"]) == 0
    assert " write " not in capsys.readouterr().out

    assert main(["uninstall", "--json"]) == 0
    removed = json.loads(capsys.readouterr().out)["steps"]
    assert {str(scripts / m) for m in menus} <= {s["target"] for s in removed}
    assert not scripts.exists()
    assert main(["uninstall"]) == 0
    assert "nothing is installed" in capsys.readouterr().out


def test_no_plugins_is_a_clear_refusal(user: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("KLING_BRIDGE_PLUGINS", str(empty))
    assert main(["install", "--resolve"]) == 2
    err = capsys.readouterr().err
    assert "Scripts/" in err and "what to do: this copy of kling-bridge is incomplete" in err
    assert not (user / ".local").exists()
