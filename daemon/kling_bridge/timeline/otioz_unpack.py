"""Where an ``.otioz``'s media is unpacked: once per bundle, whole or not at all.

An ``.otioz`` carries its media, often gigabytes of it. Reading one used to read the whole
file into memory to name its folder by a hash, and to unpack every member again on every
read (a dry run, the restyle and the export each read it), into a folder nothing ever
cleaned. Now the folder is named by the bundle's identity (device, inode, size, modification
time: a re-export is a new folder), unpacked into a temporary folder renamed only when whole
(a reader never sees half a bundle), and folders not read for :data:`KEEP_SECONDS` are removed
when another bundle is unpacked -- jobs point at the media inside, so they are kept as long
as a job's result is (30 days, like Kling's result links and the draft provider's renders).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zipfile
from pathlib import Path

from kling_bridge.aging import remove_older
from kling_bridge.atomic import atomic_output
from kling_bridge.timeline.errors import TimelineError

__all__ = ["KEEP_SECONDS", "unpack"]

#: An unpacked bundle not read for this long is removed (when another one is unpacked).
KEEP_SECONDS = 30 * 24 * 3600


def unpack(path: Path, root: Path) -> Path:
    """The folder under ``root`` holding ``path``'s members, unpacked now if they are not."""
    st = path.stat()
    name = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{path.name}"
    folder = root / hashlib.sha256(name.encode()).hexdigest()[:16]
    if folder.is_dir():
        with contextlib.suppress(OSError):
            os.utime(folder)  # read again: kept longer
        return folder
    sweep(root)
    try:
        with atomic_output(folder) as tmp:
            tmp.mkdir()
            extract(path, tmp)
    except OSError:
        if not folder.is_dir():  # not another reader's unpacking of the same bundle
            raise
    return folder


def extract(path: Path, folder: Path) -> None:
    """Every member of the zip ``path`` into ``folder``; refused whole when a member would
    land outside it."""
    with zipfile.ZipFile(path) as archive:
        inside = folder.resolve()
        for member in archive.namelist():
            if not (folder / member).resolve().is_relative_to(inside):
                raise TimelineError(f"unsafe member {member!r} in archive", path=str(path))
        archive.extractall(folder)


def sweep(root: Path, older_than: float = KEEP_SECONDS) -> int:
    """Remove unpacked bundles not read for ``older_than`` seconds; how many went."""
    return remove_older(root, older_than)
