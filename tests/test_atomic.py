"""The one way the bridge writes files (kling_bridge.atomic): whole or not at all, flushed
before the rename, never over an editor's file, secrets 0600 from the first byte, and temp
names the start-up sweep recognises."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kling_bridge import atomic


def test_a_failed_write_leaves_the_old_file_and_no_temp_name(tmp_path: Path) -> None:
    dest = tmp_path / "plan.json"
    atomic.write_text(dest, "old")
    with pytest.raises(RuntimeError), atomic.atomic_output(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the disk filled")
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_nothing_written_changes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    with atomic.atomic_output(dest):
        pass
    assert list(tmp_path.iterdir()) == []


def test_temp_names_keep_the_extension_and_are_swept(tmp_path: Path) -> None:
    seen: list[str] = []
    with atomic.atomic_output(tmp_path / "shot.mov") as tmp:
        seen.append(tmp.name)
        tmp.write_bytes(b"x")
    (name,) = seen
    assert name.startswith(".shot.") and name.endswith(".mov")
    assert atomic.TEMP_NAME.match(name)
    assert not atomic.TEMP_NAME.match("shot.mov") and not atomic.TEMP_NAME.match(".shot.mov")


def test_bytes_reach_the_disk_before_the_name(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is flushed, then renamed, then its folder flushed -- in that order."""
    order: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        order.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        order.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic.write_text(tmp_path / "result.otio", "{}")
    assert order == ["fsync file", "rename", "fsync dir"]


def test_private_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        atomic.write_text(tmp_path / "credentials.json", "{}", private=True)
        atomic.write_bytes(tmp_path / "plugin.py", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "credentials.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "plugin.py").stat().st_mode) == 0o644


def test_a_write_never_follows_a_link_planted_at_its_temp_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The temp file is created exclusively: a link planted at its name is refused, not
    written through (another local user cannot redirect a secret into a file they read)."""
    victim = tmp_path / "victim"
    victim.write_text("keep")
    planted = tmp_path / ".daemon.planted.json"
    planted.symlink_to(victim)
    monkeypatch.setattr(atomic, "temp_sibling", lambda dest: planted)
    with pytest.raises(FileExistsError):
        atomic.write_text(tmp_path / "daemon.json", "token", private=True)
    assert victim.read_text() == "keep" and not (tmp_path / "daemon.json").exists()


def test_place_new_never_replaces_and_takes_the_next_free_name(tmp_path: Path) -> None:
    (tmp_path / "a.mov").write_text("the editor's")
    names = [tmp_path / "a.mov", tmp_path / "a (2).mov", tmp_path / "a (3).mov"]
    placed = atomic.place_new(names, lambda tmp: tmp.write_text("ours"))
    assert placed.name == "a (2).mov" and placed.read_text() == "ours"
    assert (tmp_path / "a.mov").read_text() == "the editor's"
    with pytest.raises(FileExistsError):
        atomic.place_new([tmp_path / "a.mov"], lambda tmp: tmp.write_text("again"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a (2).mov", "a.mov"]


def test_a_folder_is_written_whole(tmp_path: Path) -> None:
    """An FCPXML bundle: the folder appears with its contents, or not at all."""
    dest = tmp_path / "cut.kling.fcpxmld"
    with atomic.atomic_output(dest) as tmp:
        tmp.mkdir()
        (tmp / "Info.fcpxml").write_text("<fcpxml/>")
    assert (dest / "Info.fcpxml").read_text() == "<fcpxml/>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.kling.fcpxmld"]


def test_link_or_copy_replaces_and_shares_the_bytes(tmp_path: Path) -> None:
    src = tmp_path / "answer.mp4"
    src.write_bytes(b"frames")
    dest = tmp_path / "out" / "video.mp4"
    atomic.link_or_copy(src, dest)
    atomic.link_or_copy(src, dest)  # again: replaced, not refused
    assert dest.read_bytes() == b"frames"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["video.mp4"]
