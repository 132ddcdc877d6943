"""Writing files so that no reader ever sees half of one and no crash leaves a wrong one.

Every file the bridge writes for someone to read -- renders, result timelines, copies in an
editor's folder, job records, the discovery file, credentials, installed plugins -- goes
through here, in four steps:

1. the bytes go to a temporary name **beside** the target (same folder, so same file
   system: the rename below is atomic);
2. the temporary file is flushed to the disk (``fsync``), so the name never arrives before
   the bytes -- after a power cut a renamed file could otherwise be empty;
3. it is renamed over the target (:func:`atomic_output`, :func:`write_bytes`), or given the
   target's name only if that name is free (:func:`place_new`: a hard link is an atomic
   "create if new"; an editor's file is never replaced);
4. the folder is flushed too, so the new name itself survives a crash.

Temporary names have one form, :data:`TEMP_NAME` knows it (and the forms older versions
left), and the daemon's start-up sweep (:mod:`kling_bridge.home`) removes what a crash left.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

#: Temporary names: this module's ``.NAME.tmp-PID-HEX.EXT`` (see :func:`temp_sibling`), and
#: the forms earlier versions left (``.x.PID.tmp``, ``.x.PID.HEX.tmp``, Kling downloads'
#: ``.x.HEX.part``, Kling prep's ``.x.tmpSUFFIX``) so their leftovers are swept too.
TEMP_NAME = re.compile(
    r"^\..+(?:\.tmp-\d+-[0-9a-f]+(?:\.[A-Za-z0-9]{1,8})?"
    r"|\.\d+(?:\.[0-9a-f]+)?\.tmp"
    r"|\.[0-9a-f]{8}\.part"
    r"|\.tmp(?:\.[A-Za-z0-9]{1,8})?)$"
)


def temp_sibling(dest: Path) -> Path:
    """A hidden, unique name beside ``dest`` that keeps its extension (ffmpeg picks the
    muxer by it, and a bundle folder stays recognisable)."""
    return dest.with_name(f".{dest.stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{dest.suffix}")


def fsync_path(path: Path) -> None:
    """Flush a written file (or every file of a written folder) to the disk."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return
    if stat.S_ISDIR(st.st_mode):
        for child in path.iterdir():
            fsync_path(child)
        fsync_dir(path)
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a new name) to the disk; a no-op where folders cannot be
    opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


@contextlib.contextmanager
def atomic_output(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest`` to write (a file, a folder or a link); when the
    block succeeds and wrote something, flush it and rename it over ``dest``. On failure, or
    when nothing was written, the temporary name is removed and ``dest`` is as it was."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(dest)
    try:
        yield tmp
        if os.path.lexists(tmp):
            fsync_path(tmp)
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
    finally:
        _remove(tmp)


def write_bytes(dest: Path, data: bytes, *, mode: int | None = None,
                private: bool = False) -> Path:
    """``data`` at ``dest``, atomically and durably, replacing what was there.

    ``private``: the temporary file is created 0600 by ``open`` itself (no moment in which
    another user could read it) and never through a link -- for secrets. ``mode``: the
    file's permissions (the umask's otherwise).
    """
    with atomic_output(dest) as tmp:
        flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_BINARY", 0))
        fd = os.open(tmp, flags, 0o600 if private else 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        wanted = 0o600 if private else mode
        if wanted is not None:  # in case a umask or an inherited ACL widened it
            os.chmod(tmp, wanted)
    return dest


def write_text(dest: Path, text: str, *, mode: int | None = None,
               private: bool = False) -> Path:
    """:func:`write_bytes` of ``text`` in UTF-8."""
    return write_bytes(dest, text.encode("utf-8"), mode=mode, private=private)


def copy_file(src: Path, tmp: Path, *, link: bool = False) -> None:
    """Fill ``tmp`` with ``src``'s bytes: with ``link``, a hard link when the file system
    allows (same bytes, no space; only for files nobody edits in place), else a copy."""
    if link:
        try:
            os.link(src, tmp)
            return
        except OSError:
            pass
    shutil.copyfile(src, tmp)


def link_or_copy(src: Path, dest: Path) -> Path:
    """Place ``src`` at ``dest`` (replacing it): a hard link when possible, else a copy."""
    with atomic_output(dest) as tmp:
        copy_file(src, tmp, link=True)
    return dest


def _link_new(tmp: Path, target: Path) -> bool:
    """Give ``tmp``'s file the name ``target`` only if that name is free. A hard link fails
    when the name exists (an atomic "create if new"); where the file system has no hard
    links (some SMB shares), rename to a name checked free a moment before."""
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    except OSError:
        if os.path.lexists(target):
            return False
        os.replace(tmp, target)
        return True


def place_new(targets: Iterable[Path], fill: Callable[[Path], object]) -> Path:
    """Write a file once (``fill(tmp)``), then give it the first of ``targets`` (names in
    one folder) that is free; never replaces anything. Raises ``FileExistsError`` when
    every name is taken."""
    names = iter(targets)
    first = next(names)
    first.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(first)
    try:
        fill(tmp)
        fsync_path(tmp)
        for target in itertools.chain([first], names):
            if _link_new(tmp, target):
                fsync_dir(target.parent)
                return target
    finally:
        _remove(tmp)
    raise FileExistsError(f"{first} is taken")

