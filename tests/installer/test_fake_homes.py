"""Install into fake home trees laid out like Linux, macOS and Windows.

The right files land in the right places (Resolve's Windows folder has ``Support``; nothing
goes to the all-users PROGRAMDATA), a second install changes nothing, uninstall removes
exactly what install wrote, and a user's own files are moved aside and given back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kling_bridge.installer import apply
from kling_bridge.installer.layout import Layout, OSName
from kling_bridge.installer.verbs import do_install, do_uninstall
from tests.installer.conftest import (
    Recorder,
    extension_name,
    fake_home,
    resolve_files,
    snapshot,
)


def expected_files(layout: Layout, os_name: OSName, plugins: Path) -> set[Path]:
    """Written out by hand per OS (not from the Layout's own properties) on purpose."""
    h = layout.home
    if os_name == "linux":
        scripts = h / ".local/share/DaVinciResolve/Fusion/Scripts"
        service = {h / ".config/systemd/user/kling-bridge.service",
                   h / ".config/systemd/user/default.target.wants/kling-bridge.service"}
        data = h / ".local/share/kling-bridge"
    elif os_name == "macos":
        scripts = h / "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts"
        service = {h / "Library/LaunchAgents/kling-bridge.daemon.plist"}
        data = h / "Library/Application Support/kling-bridge"
    else:
        roaming = h / "AppData/Roaming"
        scripts = roaming / "Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts"
        service = {roaming / "Microsoft/Windows/Start Menu/Programs/Startup/kling-bridge.cmd"}
        data = h / "AppData/Local/kling-bridge"
    menus, lib = resolve_files(plugins)
    resolve = {scripts / rel for rel in menus} | {data / "resolve" / rel for rel in lib}
    return service | resolve | {data / "installed" / extension_name(plugins)[1]}


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.mark.parametrize("os_name", ["linux", "macos", "windows"])
def test_install_lands_right_second_changes_nothing_uninstall_removes_exactly(
        tmp_path: Path, plugins_tree: Path, os_name: OSName) -> None:
    layout = fake_home(tmp_path, os_name, plugins_tree)
    before = snapshot(tmp_path)
    runner = Recorder()

    first = do_install(["service", "resolve", "blender"], layout=layout, runner=runner)
    assert not first.failures, first.render("install")
    written = files_under(tmp_path) - {layout.manifest_file}
    assert written == expected_files(layout, os_name, plugins_tree)
    client = (Path(__file__).parents[2] / "daemon/kling_bridge/client.py").read_bytes()
    shipped = [p for p in written if p.name == "client.py"]
    assert shipped and all(p.read_bytes().endswith(client) for p in shipped)
    record = json.loads(layout.manifest_file.read_text())
    assert {Path(p) for p in record["files"]} == expected_files(layout, os_name, plugins_tree)
    if os_name == "windows":  # per user only: nothing for all users, no "Roaming" typo path
        assert not any((tmp_path / "ProgramData").iterdir())
        assert not (layout.home / "AppData/Roaming/Blackmagic Design/DaVinci Resolve/Fusion"
                    ).exists()

    # A second install: every file unchanged, nothing reloaded or reinstalled.
    after_first = snapshot(tmp_path)
    first_calls = list(runner.calls)
    runner.calls.clear()
    second = do_install(["service", "resolve", "blender"], layout=layout, runner=runner)
    assert not second.changed(), second.render("second install")
    assert set(second.verbs()) <= {"unchanged", "run"}
    assert snapshot(tmp_path) == after_first
    rerun = [c for c in runner.calls if c in first_calls]
    assert rerun == runner.calls  # only the always-safe "make sure it runs" commands
    assert not any("install-file" in c or "daemon-reload" in c or "bootstrap" in c
                   for c in runner.calls)

    # Uninstall: every file install wrote is gone, and the folders it made; the rest is as
    # it was before -- but for the bridge's own log folder the service writes into.
    runner.calls.clear()
    gone = do_uninstall(layout=layout, runner=runner)
    assert not gone.failures
    now = snapshot(tmp_path)
    left = set(now) - set(before)
    log_dir = layout.bridge.log_dir.relative_to(tmp_path).as_posix()
    assert all(log_dir.startswith(p) for p in left), left
    assert {k: v for k, v in now.items() if k in before} == before
    assert not layout.manifest_file.exists()

    # --purge takes the bridge's own (empty) folders too: the home is exactly as before.
    do_uninstall(layout=layout, runner=runner, purge=True)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("os_name", ["linux", "macos", "windows"])
def test_dry_run_names_every_file_and_command_and_touches_nothing(
        tmp_path: Path, plugins_tree: Path, os_name: OSName) -> None:
    layout = fake_home(tmp_path, os_name, plugins_tree)
    before = snapshot(tmp_path)
    runner = Recorder()
    out = do_install(["service", "resolve", "blender"], layout=layout, runner=runner,
                     dry_run=True)
    assert snapshot(tmp_path) == before
    assert [c for c in runner.calls if c[1:] != ["--version"]] == []  # looked, ran nothing
    shown = {Path(w) for _, v, w in out.lines if v == "write"}
    assert shown == expected_files(layout, os_name, plugins_tree)
    commands = [w for _, v, w in out.lines if v == "run"]
    assert commands  # the service and Blender commands are listed
    text = out.render("kling-bridge install")
    assert "dry run" in text and all(str(p) in text for p in shown)


def test_a_users_own_file_is_moved_aside_then_given_back(
        tmp_path: Path, plugins_tree: Path) -> None:
    layout = fake_home(tmp_path, "linux", plugins_tree)
    entry = resolve_files(plugins_tree)[0][0]
    mine = layout.resolve_scripts.joinpath(*entry.split("/"))
    mine.parent.mkdir(parents=True)
    mine.write_text("# my own script with the same name\n")
    out = do_install(["resolve"], layout=layout, runner=Recorder())
    aside = mine.with_name(mine.name + apply.ASIDE_SUFFIX)
    assert aside.read_text() == "# my own script with the same name\n"
    assert "move aside" in out.verbs()
    assert mine.read_text() != aside.read_text()
    do_uninstall(layout=layout, runner=Recorder())
    assert mine.read_text() == "# my own script with the same name\n"
    assert not aside.exists()
    assert [p.name for p in mine.parent.iterdir()] == [mine.name]


def test_an_edited_installed_file_is_kept_on_uninstall(
        tmp_path: Path, plugins_tree: Path) -> None:
    layout = fake_home(tmp_path, "macos", plugins_tree)
    do_install(["resolve"], layout=layout, runner=Recorder())
    entry = resolve_files(plugins_tree)[0][-1]
    edited = layout.resolve_scripts.joinpath(*entry.split("/"))
    edited.write_text("# the editor tweaked this\n")
    out = do_uninstall(layout=layout, runner=Recorder())
    assert edited.read_text() == "# the editor tweaked this\n"
    assert any("changed since" in n for n in out.notes)
    assert sorted(p.relative_to(layout.resolve_scripts).as_posix()
                  for p in layout.resolve_scripts.rglob("*") if p.is_file()) == [entry]
    assert not layout.resolve_lib.exists()


def test_an_upgrade_removes_files_the_new_version_no_longer_ships(
        tmp_path: Path, plugins_tree: Path) -> None:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(plugins_tree.parent / "plugins", repo / "plugins")
    shutil.copytree(plugins_tree.parent / "tools", repo / "tools")
    layout = fake_home(tmp_path / "m", "windows", repo / "plugins")
    do_install(["resolve"], layout=layout, runner=Recorder())
    dropped = resolve_files(repo / "plugins")[0][-1]
    (repo / "plugins/resolve/Scripts" / dropped).unlink()
    out = do_install(["resolve"], layout=layout, runner=Recorder())
    assert [w for _, v, w in out.lines if v == "remove"] == [
        str(layout.resolve_scripts.joinpath(*dropped.split("/")))]
    assert not layout.resolve_scripts.joinpath(*dropped.split("/")).exists()
    assert all(layout.resolve_scripts.joinpath(*rel.split("/")).is_file()
               for rel in resolve_files(repo / "plugins")[0])


def test_installing_one_component_keeps_the_others(
        tmp_path: Path, plugins_tree: Path) -> None:
    layout = fake_home(tmp_path, "linux", plugins_tree)
    do_install(["service", "resolve", "blender"], layout=layout, runner=Recorder())
    before = snapshot(tmp_path)
    out = do_install(["resolve"], layout=layout, runner=Recorder())
    assert not out.changed()
    assert snapshot(tmp_path) == before
    do_uninstall(["resolve"], layout=layout, runner=Recorder())
    assert layout.service_file.exists() and not layout.resolve_scripts.exists()
    record = json.loads(layout.manifest_file.read_text())
    assert {e["component"] for e in record["files"].values()} == {"service", "blender"}


def test_a_damaged_record_is_refused_with_what_to_do(
        tmp_path: Path, plugins_tree: Path) -> None:
    layout = fake_home(tmp_path, "linux", plugins_tree)
    layout.manifest_file.parent.mkdir(parents=True)
    layout.manifest_file.write_text("{not json")
    from kling_bridge.installer.manifest import ManifestError

    with pytest.raises(ManifestError) as err:
        do_uninstall(layout=layout, runner=Recorder())
    assert "move it away" in err.value.hint
