"""Files a whole test run shares: made once by whichever xdist worker gets there first, then
only read (generated media, the Blender extension's zip, Blender's facts)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def shared_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder every xdist worker of this run sees (the basetemp's parent under xdist): a
    worker's session fixture alone would make its files again in each worker."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / name
    folder.mkdir(exist_ok=True)
    return folder


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lock file ``path`` (one process of the run at a time)."""
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def make_once(folder: Path) -> Iterator[bool]:
    """Hold ``folder``'s lock; say whether this process must make its files (the first one
    to get here; a maker that fails leaves them to the next)."""
    with locked(folder / ".lock"):
        done = folder / ".done"
        must = not done.exists()
        yield must
        if must:
            done.write_text("ok")
