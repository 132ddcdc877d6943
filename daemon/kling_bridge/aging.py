"""Folders whose entries the daemon keeps for a while, then lets go: the draft provider's
tasks and renders, kept fits, unpacked ``.otioz`` bundles. An entry's age is its
modification time, which a cache touches when an entry is used again."""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from pathlib import Path

__all__ = ["remove_older"]


def remove_older(root: Path, older_than: float, *, names: re.Pattern[str] | None = None) -> int:
    """Remove the files and folders directly in ``root`` not modified for ``older_than``
    seconds (only those whose name ``names`` matches, when given); how many went. A missing
    ``root`` has nothing to remove, and an entry that cannot be removed is left."""
    cutoff = time.time() - older_than
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in root.iterdir():
            if names is not None and not names.match(entry.name):
                continue
            with contextlib.suppress(OSError):
                if entry.lstat().st_mtime < cutoff:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
                    removed += 1
    return removed
