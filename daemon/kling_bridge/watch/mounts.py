"""Is a folder on a network drive? Native file-system events do not cross SMB/NFS (a file
another machine writes to the share raises nothing here), so such folders are polled.

Linux: the mount table (``/proc/mounts``); macOS and the BSDs: the output of ``mount``;
Windows: a UNC path (``\\\\server\\share``) or a mapped drive (``GetDriveTypeW`` says
remote). The parsers are pure; :func:`is_network_folder` reads the system.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import PurePosixPath

NETWORK_TYPES = frozenset({
    "cifs", "smb", "smb2", "smb3", "smbfs", "nfs", "nfs4", "afpfs", "afs", "ncpfs",
    "webdav", "davfs", "fuse.sshfs", "sshfs", "9p", "fuse.rclone", "ceph", "glusterfs",
    "fuse.glusterfs", "lustre", "gpfs", "fuse.s3fs", "virtiofs", "vboxsf", "vmhgfs",
    "fuse.vmhgfs-fuse", "prl_fs", "drvfs", "9p2000",
})


def _unescape(field: str) -> str:
    """/proc/mounts writes spaces and tabs in paths as octal escapes (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_proc_mounts(text: str) -> list[tuple[str, str]]:
    """``/proc/mounts`` -> [(mount point, fs type)]."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            out.append((_unescape(parts[1]), parts[2].lower()))
    return out


_MOUNT_LINE = re.compile(r"^(?P<dev>.+?) on (?P<point>.+?) \((?P<opts>[^)]*)\)\s*$")
_BSD_LINE = re.compile(r"^(?P<dev>.+?) on (?P<point>.+?) type (?P<type>\S+)")


def parse_mount_output(text: str) -> list[tuple[str, str]]:
    """``mount`` output (macOS: ``//u@srv/share on /Volumes/share (smbfs, nodev, ...)``;
    Linux/BSD style ``dev on /point type nfs (...)`` too) -> [(mount point, fs type)]."""
    out = []
    for line in text.splitlines():
        bsd = _BSD_LINE.match(line)
        if bsd:
            out.append((bsd.group("point"), bsd.group("type").lower()))
            continue
        mac = _MOUNT_LINE.match(line)
        if mac:
            fstype = mac.group("opts").split(",")[0].strip().lower()
            out.append((mac.group("point"), fstype))
    return out


def fs_type_of(path: str, mounts: Iterable[tuple[str, str]]) -> str | None:
    """The file-system type of the mount holding ``path`` (the longest matching point)."""
    target = PurePosixPath(path)
    best: tuple[int, str] | None = None
    for point, fstype in mounts:
        mp = PurePosixPath(point)
        if target == mp or mp in target.parents:
            depth = len(mp.parts)
            if best is None or depth >= best[0]:
                best = (depth, fstype)
    return best[1] if best else None


def is_network_type(fstype: str | None) -> bool:
    return bool(fstype) and (fstype in NETWORK_TYPES or str(fstype).startswith(("nfs", "smb")))


def is_network_folder(path: str) -> bool:
    """Best effort: False when the system cannot tell (events then, plus the rescan)."""
    real = os.path.realpath(path)
    if sys.platform == "win32":
        return _windows_remote(real)
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/mounts", encoding="utf-8", errors="replace") as fh:
                mounts = parse_proc_mounts(fh.read())
        else:
            text = subprocess.run(["mount"], capture_output=True, text=True, timeout=10,
                                  check=False).stdout
            mounts = parse_mount_output(text)
    except (OSError, subprocess.SubprocessError):
        return False
    return is_network_type(fs_type_of(real, mounts))


def _windows_remote(path: str) -> bool:  # pragma: no cover - Windows only
    if path.startswith(("\\\\", "//")):
        return True
    import ctypes

    drive = os.path.splitdrive(path)[0]
    if not drive:
        return False
    drive_remote = 4
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    return bool(kernel32.GetDriveTypeW(drive + "\\") == drive_remote)
