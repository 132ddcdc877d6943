"""What the CLI shows and writes: progress, job tables, copies of results.

Copies into ``--out`` are made by the daemon (:mod:`kling_bridge.export`), atomic and never
overwriting: an existing name gets `` (2)``, `` (3)``... like a browser download, so
re-running a command never destroys an editor's earlier take; the result timeline beside
them links to those copies.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .client import BridgeClient, BridgeError

BAR = 24


class Progress:
    """One line per job, redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self._last: dict[str, str] = {}
        self._drawn = 0
        self._started = time.monotonic()

    def update(self, batch: dict[str, Any]) -> None:
        if not self.enabled:
            return
        lines = [self._line(j) for j in batch["jobs"]]
        if self.tty:
            if self._drawn:
                self.stream.write(f"\x1b[{self._drawn}F")
            for line in lines:
                self.stream.write("\x1b[2K" + line + "\n")
            self._drawn = len(lines)
        else:
            for job, line in zip(batch["jobs"], lines, strict=True):
                key = f"{job['state']}:{int(job['progress'] * 10)}"
                if self._last.get(job["id"]) != key:
                    self._last[job["id"]] = key
                    self.stream.write(line + "\n")
        self.stream.flush()

    def _line(self, job: dict[str, Any]) -> str:
        done = int(job["progress"] * BAR)
        bar = "#" * done + "-" * (BAR - done)
        elapsed = time.monotonic() - self._started
        return (f"[{bar}] {job['progress'] * 100:3.0f}% {job['state']:<15} "
                f"{job['label'][:40]}  {elapsed:4.0f}s")

    def close(self) -> None:
        if self.enabled:
            self.stream.flush()


def print_jobs(jobs: Sequence[dict[str, Any]]) -> None:
    if not jobs:
        print("no jobs")
        return
    print(f"{'JOB':<25} {'STATE':<16} {'PROV':<6} {'COST':>7}  LABEL")
    for j in jobs:
        cost = j["billed"]["units"] or j["estimate"]["units"]
        print(f"{j['id']:<25} {j['state']:<16} {j['provider']:<6} {cost:>7g}  {j['label']}")
        if j.get("error"):
            print(f"{'':<25} {j['error']['message']}")


def free_name(folder: Path, name: str) -> Path:
    target = folder / name
    stem, suffix = target.stem, target.suffix
    n = 2
    while target.exists():
        target = folder / f"{stem} ({n}){suffix}"
        n += 1
    return target


def atomic_copy(src: Path, folder: Path, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = free_name(folder, name or src.name)
    tmp = folder / f".{target.name}.part"
    shutil.copyfile(src, tmp)
    os.replace(tmp, target)
    return target


def export_to(client: BridgeClient, batch_id: str, out: Path, fmt: str | None) -> list[str]:
    """The batch's outputs copied into ``out`` and, for a timeline, the result timeline
    written beside them linking to those copies (the daemon does both:
    ``POST /v1/batches/{id}/export``); the paths written."""
    if fmt is not None:
        from .timeline import TimelineError, canonical_format

        try:
            fmt = canonical_format(fmt)
        except TimelineError as exc:
            raise BridgeError("bad_format", exc.problem, exc.hint or "") from exc
    done = client.export_batch(batch_id, str(out.expanduser().resolve()), fmt)
    return ([f["path"] for f in done["files"]] + [t["path"] for t in done["timelines"]])
