"""Fitted segments kept for the next job that needs the same ones.

Comparing looks restyles one range of one clip several times, and each job cut and
re-encoded the same segments: an encode of up to 15 s of the source at up to 4K, the slowest
step before anything is sent, and the same bytes every time. What a fit writes depends on
the source file and the plan (range, handles, limits, encoder settings), never on the look:
a finished fit is kept here under a key of both, and a later job with the same plan takes
its segments by hard link -- the same bytes, no copy, no extra space.

A range longer than one segment is split where its shots change, found by decoding the whole
range: those scene cuts are kept too (a small file beside the fits), so the next look of a
long clip neither decodes nor cuts it again.

The source is known by device, inode, size and modification time, so a file edited or
replaced in place is cut again. A kept fit goes a day after it was last taken (the jobs'
folders keep their own links to the files meanwhile).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from ..aging import remove_older
from ..atomic import TEMP_NAME, atomic_output, copy_file, write_text
from .fit import FitPlan

__all__ = ["KEEP_SECONDS", "FitCache", "fit_key"]

#: A kept fit is removed this long after it was last taken.
KEEP_SECONDS = 24 * 3600


def fit_key(plan: FitPlan) -> str | None:
    """The fit's key: the plan and its source file as it is now (None when the source
    cannot be looked at: nothing is kept or taken then). Blocking (a stat)."""
    try:
        st = os.stat(plan.media.path)
    except OSError:
        return None
    blob = json.dumps([plan.to_dict(), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class FitCache:
    """Finished fits under ``root``, one folder of segments per key. Blocking methods."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def take(self, key: str, dests: Sequence[Path]) -> bool:
        """Link the kept segments of ``key`` to ``dests`` (matched by file name); False
        when that fit is not kept whole (the caller cuts what is missing)."""
        entry = self.root / key
        kept = [entry / dest.name for dest in dests]
        if not all(path.is_file() for path in kept):
            return False
        try:
            for src, dest in zip(kept, dests, strict=True):
                if not dest.exists():
                    with atomic_output(dest) as tmp:
                        copy_file(src, tmp, link=True)
        except OSError:  # swept meanwhile: cut it (segments placed are whole, and kept)
            return False
        with contextlib.suppress(OSError):
            os.utime(entry)  # taken: kept another day
        return True

    def keep(self, key: str, files: Sequence[Path]) -> None:
        """Keep a finished fit's segments (hard links, so no space is used twice); one
        already kept stays, and a file system without hard links keeps nothing."""
        self.sweep()
        entry = self.root / key
        if entry.exists():
            return
        with contextlib.suppress(OSError), atomic_output(entry) as tmp:
            tmp.mkdir()
            for path in files:
                os.link(path, tmp / path.name)

    def scene_cuts(self, key: str) -> tuple[int, ...] | None:
        """The scene cuts kept for ``key`` (None when none are)."""
        path = self.root / f"{key}.cuts.json"
        try:
            cuts = tuple(int(frame) for frame in json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # taken: kept another day
        return cuts

    def keep_scene_cuts(self, key: str, cuts: tuple[int, ...]) -> None:
        """Keep the scene cuts found for ``key`` (a full disk keeps nothing)."""
        with contextlib.suppress(OSError):
            write_text(self.root / f"{key}.cuts.json", json.dumps(list(cuts)))

    def sweep(self, older_than: float = KEEP_SECONDS) -> int:
        """Remove fits not taken for ``older_than`` seconds (and, after an hour, what a
        crash left while keeping one); answers how many went."""
        return (remove_older(self.root, older_than)
                + remove_older(self.root, 3600, names=TEMP_NAME))
