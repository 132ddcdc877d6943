"""Files a request names, checked by kind before anything opens them.

Every path an editor (or a hostile page, script or timeline) hands the bridge ends up
opened by a worker thread: read whole (timelines), probed (media) or fed to ffmpeg. A
character device (``/dev/zero``) reads forever, a FIFO blocks the thread until some writer
appears, ``/proc`` files claim a size of 0 and then stream; each of those once froze or
exhausted the daemon. So paths are refused *by kind* here, with a message that says what
the path is, before any read; and the one read of a whole file (:func:`read_capped`) opens
without blocking, checks the kind again on the open descriptor (no swap between the check
and the read) and never reads more than its cap.

This module sits at the bottom of the package (it imports nothing of ours), so the API,
the timeline readers and the media layer can all call it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: Largest timeline read into memory (text formats are parsed whole; a 5,000-clip FCPXML
#: is about 10 MB). Bigger files are refused before a byte is read.
MAX_TIMELINE_BYTES = 64 * 1024 * 1024

#: Pseudo file systems whose "files" are not files (sizes of 0 that stream, or devices).
_PSEUDO_ROOTS = ("/proc", "/sys", "/dev")

_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


class UnsafeFile(ValueError):
    """The path cannot be used as the file asked for; ``problem`` says why, ``hint`` what to do."""

    def __init__(self, path: str, problem: str, hint: str = "", code: str = "bad_path") -> None:
        self.path = path
        self.problem = problem
        self.hint = hint
        self.code = code  # "missing" when nothing is there; "bad_path" otherwise
        super().__init__(f"{path}: {problem}")


def path_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a path the daemon may open, judged on the text alone.

    ``None`` when it is fine. Used by the API's validators, so nothing stores a path the
    daemon would later choke on (a NUL byte makes every OS call raise ``ValueError``).
    """
    if "\x00" in value:
        return "contains a NUL byte"
    if not value.strip():
        return "is empty"
    if len(value.encode("utf-8", "surrogatepass")) > 4096:
        return "is longer than 4096 bytes"
    if not os.path.isabs(value):
        return "is not an absolute path (the daemon does not share your working folder)"
    norm = os.path.normpath(value)
    for root in _PSEUDO_ROOTS:
        if norm == root or norm.startswith(root + "/"):
            return f"is under {root}, which holds devices and system files, not media"
    return None


def kind_of(mode: int) -> str | None:
    """``"a named pipe (FIFO)"`` etc. for anything that is not a regular file."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def regular_file(path: str | Path, *, what: str = "file", max_bytes: int | None = None,
                 allow_dir: bool = False) -> os.stat_result:
    """Stat ``path`` (following links) and refuse anything but a regular file of sane size.

    Never opens the path, so it cannot block on a FIFO. ``allow_dir`` lets bundle formats
    (``.fcpxmld``, ``.otiod``) through.
    """
    where = str(path)
    problem = path_problem(where)
    if problem:
        raise UnsafeFile(where, f"the {what} path {problem}", "give the full path of a file")
    try:
        st = os.stat(where)
    except FileNotFoundError:
        raise UnsafeFile(where, f"the {what} does not exist",
                         "check the path; the file may have been moved or renamed",
                         code="missing") from None
    except NotADirectoryError:
        raise UnsafeFile(where, f"the {what} does not exist (a parent is not a folder)",
                         "check the path", code="missing") from None
    except OSError as exc:
        raise UnsafeFile(where, f"the {what} cannot be read ({exc.strerror})",
                         "check the drive is mounted and you have permission") from None
    if allow_dir and stat.S_ISDIR(st.st_mode):
        return st
    real = os.path.realpath(where)
    via = f" ({real})" if real != where else ""
    kind = kind_of(st.st_mode)
    if kind is not None:
        raise UnsafeFile(where, f"is {kind}{via}, not a regular file",
                         f"give the path of the {what} itself")
    if via and path_problem(real):
        raise UnsafeFile(where, f"leads to {real}, a system file, not a {what}",
                         f"give the path of the {what} itself")
    if max_bytes is not None and st.st_size > max_bytes:
        raise UnsafeFile(
            where,
            f"the {what} is {st.st_size / 1e6:.1f} MB, more than the {max_bytes / 1e6:.0f} MB "
            "the bridge reads",
            "export a smaller timeline (fewer tracks or a shorter range)",
        )
    return st


def read_capped(path: str | Path, max_bytes: int = MAX_TIMELINE_BYTES, *,
                what: str = "timeline") -> bytes:
    """The whole of a regular file of at most ``max_bytes`` bytes.

    Opens with ``O_NONBLOCK`` (a FIFO swapped in after a check does not hang the thread),
    re-checks the kind on the descriptor, and reads at most ``max_bytes + 1`` bytes, so a
    file that grows, or lies about its size, is refused instead of read without end.
    """
    where = str(path)
    regular_file(where, what=what, max_bytes=max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(where, flags)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.EAGAIN):
            raise UnsafeFile(where, "is not a regular file") from None
        raise UnsafeFile(where, f"the {what} cannot be read ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        kind = kind_of(st.st_mode)
        if kind is not None:
            raise UnsafeFile(where, f"is {kind}, not a regular file")
        chunks: list[bytes] = []
        left = max_bytes + 1
        # a file that tells its size is read in one piece (no 12 MB join of 1 MB chunks)
        piece = max(st.st_size + 1, 1 << 20)
        while left > 0:
            chunk = os.read(fd, min(left, piece))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise UnsafeFile(where, f"the {what} is larger than the {max_bytes / 1e6:.0f} MB "
                         "the bridge reads", "export a smaller timeline")
    return data
