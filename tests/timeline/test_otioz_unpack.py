"""An .otioz carries its media: unpacked once per bundle, found again on the next read,
unpacked anew when the bundle is exported again, and cleaned up when long unused."""

from __future__ import annotations

import os
import time
from pathlib import Path

from kling_bridge.config import Paths
from kling_bridge.timeline import read_timeline, timeline_to_bytes
from kling_bridge.timeline.otioz_unpack import KEEP_SECONDS
from tests.timeline.builders import build

NAMES = ("A001 take #1.mov", "A002.mov", "A003.mov", "A004.mov", "B001.mov", "C001.mov")


def bundle(folder: Path, fill: bytes = b"\x00") -> Path:
    """An .otioz of the builders' cut, its (stand-in) media inside, each file ``fill``ed."""
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    for clip in NAMES:
        (media / clip).write_bytes(fill * 64)
    built = build("24", media_dir=str(media))
    path = folder / "cut.otioz"
    path.write_bytes(timeline_to_bytes(built.timeline, "otioz"))
    return path


def unpacked_media(path: Path) -> Path:
    result = read_timeline(path)
    (note,) = [n for n in result.notes if n.startswith("bundle media unpacked to ")]
    folder = Path(note.removeprefix("bundle media unpacked to "))
    assert not [i for i in result.issues if "A001" in i.item]  # media found in the bundle
    return folder / "media" / "A001 take #1.mov"


def test_a_bundle_read_again_is_not_unpacked_again(tmp_path: Path) -> None:
    path = bundle(tmp_path)
    first = unpacked_media(path)
    before = first.stat()
    again = unpacked_media(path)
    assert again == first
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    root = Paths.resolve().cache_dir / "otioz"
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no half bundle


def test_a_bundle_exported_again_shows_its_new_media(tmp_path: Path) -> None:
    path = bundle(tmp_path)
    assert unpacked_media(path).read_bytes() == b"\x00" * 64
    bundle(tmp_path, fill=b"\x01")  # the editor exported the cut again, over the old file,
    st = path.stat()  # a moment later (the clock's tick can be coarser than this test)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert unpacked_media(path).read_bytes() == b"\x01" * 64


def test_bundles_not_read_for_a_month_are_removed(tmp_path: Path) -> None:
    old = unpacked_media(bundle(tmp_path / "old")).parent.parent
    recent = unpacked_media(bundle(tmp_path / "recent")).parent.parent
    long_ago = time.time() - KEEP_SECONDS - 3600
    os.utime(old, (long_ago, long_ago))
    unpacked_media(bundle(tmp_path / "new"))  # unpacking another bundle sweeps
    assert not old.exists() and recent.is_dir()
