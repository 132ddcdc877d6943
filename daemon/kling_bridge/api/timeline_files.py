"""A timeline file named in a request, checked before the timeline layer opens it.

The readers in :mod:`kling_bridge.timeline.formats` trust the path they are given; the
request's path is anyone's. So before a reader runs: the path must be a regular file (or a
bundle folder holding one), a text format must fit in ``MAX_TIMELINE_BYTES`` (it is parsed
whole), and an ``.otioz`` must not unpack to more than the disk holds. While it runs, any
exception an adapter raises on a hostile or mislabelled file (pyaaf2 on a non-AAF, expat
on a bomb, a recursion on a deep document) becomes a :class:`TimelineError` naming the
file, so the answer is a 400 that says which file and why, never a 500.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import stat
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from ..config import Paths
from ..fileguard import MAX_TIMELINE_BYTES, UnsafeFile, regular_file
from ..timeline import TimelineError
from ..timeline.formats import FORMATS, canonical_format, detect_format
from . import schemas as s

log = logging.getLogger("kling_bridge.api")
T = TypeVar("T")

#: Space an .otioz must leave free on the cache's disk after unpacking.
UNPACK_MARGIN_BYTES = 1 << 30

#: Bundle folders and the one document inside each that gets read.
_BUNDLE_DOCUMENTS = ("Info.fcpxml", "content.otio")


def guard_timeline_file(path: str, fmt: str | None, cache_dir: Path | None = None) -> None:
    """Refuse ``path`` unless a timeline reader can read it in bounded time and memory."""
    st = regular_file(path, what="timeline", allow_dir=True)
    if stat.S_ISDIR(st.st_mode):
        for name in _BUNDLE_DOCUMENTS:
            inner = Path(path) / name
            if inner.exists() or inner.is_symlink():
                regular_file(inner, what="timeline", max_bytes=MAX_TIMELINE_BYTES)
        return
    name = canonical_format(fmt) if fmt else detect_format(Path(path))
    info = FORMATS[name]
    if not info.binary:
        regular_file(path, what="timeline", max_bytes=MAX_TIMELINE_BYTES)
    if name == "otioz":
        _check_unpacked_size(path, cache_dir)


def _check_unpacked_size(path: str, cache_dir: Path | None) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            total = sum(i.file_size for i in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnsafeFile(path, f"is not a readable .otioz (zip) file ({exc})",
                         "export the bundle again") from None
    where = cache_dir or Paths.resolve().cache_dir
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if total + UNPACK_MARGIN_BYTES > free:
        raise UnsafeFile(
            path,
            f"unpacks to {total / 1e9:.1f} GB, more than the disk has free "
            f"({free / 1e9:.1f} GB)",
            "free some space, or send the timeline without its media (.otio)",
        )


def guarded(select: Callable[[s.RestyleIn], T]) -> Callable[[s.RestyleIn], T]:
    """``select(body)`` with the request's timeline file checked first, and every failure
    of reading it turned into a :class:`TimelineError` naming the file."""

    def run(body: s.RestyleIn) -> T:
        where = body.timeline_path or "request timeline"
        with reading_guard(where, body.timeline_format):
            if body.timeline_path is not None:
                guard_timeline_file(body.timeline_path, body.timeline_format)
            return select(body)

    return run


@contextlib.contextmanager
def reading_guard(where: str, fmt: str | None) -> Iterator[None]:
    """Whatever an adapter raises while reading ``where`` -> a TimelineError naming it.

    The traceback goes to the log (at WARNING): an exception here is the file's fault far
    more often than ours, but when it is ours the log says so.
    """
    try:
        yield
    except (TimelineError, UnsafeFile, MemoryError):
        raise
    except RecursionError as exc:
        raise TimelineError("nests too deeply to be a timeline", path=where,
                            hint="export the timeline again from your editor") from exc
    except Exception as exc:
        log.warning("reading %s failed", where, exc_info=True)
        kind = fmt or "a timeline"
        detail = str(exc).strip() or type(exc).__name__
        raise TimelineError(
            f"cannot be read as {kind}: {detail[:300]}",
            path=where,
            hint="check that the file really is the format its name says and was exported "
            "completely",
        ) from exc
