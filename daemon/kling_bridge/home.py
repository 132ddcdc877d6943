"""The bridge's home while a daemon owns it: one daemon per home, private, no leftovers.

* **One daemon per home.** Two daemons on one database both "recover" and run the same
  jobs (a paid create sent twice). A pid in the discovery file cannot prevent that: the
  file goes before the process does, and a stale file's pid may belong to another program
  by now. So the daemon holds an exclusive ``flock`` on ``daemon.lock`` beside the database
  for its whole life; the OS drops it when the process ends, however it ends. Whoever holds
  the lock owns the home; a discovery file left by a dead daemon blocks nothing.
* **Private.** Folders 0700 (checked and tightened at every start, for homes made by older
  versions or under a loose umask); the database and logs 0600.
* **No leftovers.** Work files are written under temp names and renamed (see
  :mod:`.atomic`); a crash, a full disk or a kill leaves the temp names
  behind. With the lock held nobody else is writing, so :func:`sweep_temp_files` removes
  them at start.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .atomic import TEMP_NAME
from .config import Paths

LOCK_NAME = "daemon.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows is not a supported daemon platform
    fcntl = None  # type: ignore[assignment]


class HomeBusy(Exception):
    """Another process holds the home's lock; ``pid`` is what it wrote there (0: unknown)."""

    def __init__(self, lock_file: Path, pid: int) -> None:
        super().__init__(f"{lock_file} is held by pid {pid or 'unknown'}")
        self.lock_file = lock_file
        self.pid = pid


@dataclass
class HomeLock:
    path: Path
    fd: int

    @staticmethod
    def acquire(paths: Paths) -> HomeLock:
        """Take the home's lock without waiting; :class:`HomeBusy` if a daemon holds it."""
        paths.data_dir.mkdir(parents=True, exist_ok=True)
        path = paths.data_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise HomeBusy(path, holder) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        return HomeLock(path, fd)

    def release(self) -> None:
        """Drop the lock (the file stays: deleting it would let two holders exist at once)."""
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        with contextlib.suppress(OSError):
            if fcntl is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = -1


def _read_pid(fd: int) -> int:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else 0
    except OSError:
        return 0


def make_private(paths: Paths) -> None:
    """Folders 0700, the database and logs 0600 -- whatever the umask was when made."""
    folders = [paths.config_dir, paths.data_dir, paths.cache_dir, paths.log_dir,
               paths.outputs_dir, paths.jobs_dir]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        _chmod(folder, 0o700)
    for name in (paths.database.name, paths.database.name + "-wal",
                 paths.database.name + "-shm", LOCK_NAME):
        _chmod(paths.data_dir / name, 0o600)
    for log in paths.log_dir.glob(paths.log_file.name + "*"):
        _chmod(log, 0o600)
    for private in (paths.discovery_file, paths.credentials_file, paths.config_file):
        _chmod(private, 0o600)


def create_private_file(path: Path) -> None:
    """Create ``path`` 0600 if missing (SQLite then gives its -wal/-shm files the same mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    _chmod(path, 0o600)


def _chmod(path: Path, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if stat.S_IMODE(path.stat().st_mode) != mode:
            path.chmod(mode)


def temp_roots(paths: Paths) -> list[Path]:
    """Where the daemon writes temp names: outputs, job work folders, draft and Kling caches.

    Not ``cache/otioz`` (a user's unpacked bundle may hold any names) nor anything outside
    the home.
    """
    return [paths.outputs_dir, paths.jobs_dir, paths.cache_dir / "draft",
            paths.cache_dir / "kling", paths.cache_dir / "frames", paths.config_dir,
            paths.data_dir]


def sweep_temp_files(paths: Paths) -> list[Path]:
    """Remove temp files a crash or a failure left behind (call with the home's lock held)."""
    removed: list[Path] = []
    for root in temp_roots(paths):
        if not root.is_dir():
            continue
        walker = os.walk(root) if root not in (paths.config_dir, paths.data_dir) else [
            (str(root), [], [p.name for p in root.iterdir()])]
        for folder, _dirs, files in walker:
            for name in files:
                if TEMP_NAME.match(name):
                    target = Path(folder) / name
                    with contextlib.suppress(OSError):
                        if target.is_file() and not target.is_symlink():
                            target.unlink()
                            removed.append(target)
    return removed
