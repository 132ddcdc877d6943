"""Moving items through the folders without ever overwriting or deleting an editor's file.

- :func:`versioned` -- ``name``, ``name-2``, ``name-3``... (before the extension; a bundle
  folder keeps its ``.fcpxmld``), the first one free in a folder.
- :func:`move_new` -- a rename that never replaces: a hard link then unlink for files (atomic,
  fails if the target appeared), a plain rename for folders after checking.
- :func:`place_copy` -- results go to a temporary name first, then into place (never
  over a file already there).
- :func:`write_error` -- the ``<name>.error.txt`` beside a failed source.

All blocking (file system calls): the service runs them in worker threads.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Collection
from pathlib import Path, PurePosixPath

from ..atomic import copy_file, place_new, write_text


def split_name(name: str) -> tuple[str, str]:
    """``clip.film-noir.mp4`` -> (``clip.film-noir``, ``.mp4``); ``x.kling.fcpxmld`` likewise."""
    p = PurePosixPath(name)
    return (p.stem, p.suffix) if p.suffix and p.stem else (name, "")


def versioned(folder: Path, name: str, taken: Collection[str] = ()) -> str:
    """The first of ``name``, ``stem-2.ext``, ``stem-3.ext``... not in ``folder`` nor ``taken``."""
    stem, suffix = split_name(name)
    candidate, n = name, 2
    while candidate in taken or os.path.lexists(folder / candidate):
        candidate = f"{stem}-{n}{suffix}"
        n += 1
    return candidate


def move_new(src: Path, folder: Path, name: str | None = None) -> Path:
    """Move ``src`` into ``folder`` under ``name`` or its next free version; returns the target.

    Never replaces anything: for a file the new name is made with a hard link (which fails
    when the name exists) and the old one removed; where links are not supported (some SMB
    shares) and for folders, the name is checked just before a rename.
    """
    folder.mkdir(parents=True, exist_ok=True)
    name = name or src.name
    for _ in range(1000):
        target = folder / versioned(folder, name)
        if src.is_dir():
            os.rename(src, target)
            return target
        try:
            os.link(src, target)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EACCES,
                                 errno.EOPNOTSUPP):
                raise
            if os.path.lexists(target):
                continue
            os.rename(src, target)
            return target
        os.unlink(src)
        return target
    raise FileExistsError(f"no free name for {name} in {folder}")


def place_copy(src: Path, target: Path) -> Path:
    """Put a copy of ``src`` at ``target`` (a hard link when possible: same bytes, no space)
    through a temporary name. A ``target`` already there with the same size is taken as this
    copy, made by a run a crash interrupted; anything else there is never replaced."""
    if target.exists():
        if target.is_file() and target.stat().st_size == src.stat().st_size:
            return target
        raise FileExistsError(f"{target} appeared while results were being written; "
                              "it was left as it is")
    try:
        return place_new([target], lambda tmp: copy_file(src, tmp, link=True))
    except FileExistsError:
        raise FileExistsError(f"{target} appeared while results were being written; "
                              "it was left as it is") from None


def error_text(name: str, problem: str, hint: str, where: str, details: str = "") -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    lines = [
        f"{name} could not be done.",
        "",
        f"What was wrong: {problem.strip()}",
        f"What to do:     {hint.strip() or 'see the details below, then drop it in again'}",
        "",
        f"It was dropped into {where} and moved here on {stamp}.",
        "Once it is fixed, drop it in again: work already finished (and paid for) is not",
        "redone.",
    ]
    if details:
        lines += ["", "Details:", details.rstrip()]
    return "\n".join(lines) + "\n"


def write_error(source: Path, text: str) -> Path:
    """``<source name>.error.txt`` beside the (moved) source, written atomically."""
    return write_text(source.with_name(source.name + ".error.txt"), text)


def remove_tree(path: Path) -> None:
    """Only for our own staging folders (never an editor's file)."""
    shutil.rmtree(path, ignore_errors=True)
