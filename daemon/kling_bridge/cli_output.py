"""What the CLI shows and writes: progress, job tables, copies of results.

Copies into ``--out`` are atomic (temp name, then rename) and never overwrite: an existing
name gets `` (2)``, `` (3)``... like a browser download, so re-running a command never
destroys an editor's earlier take.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .client import BridgeClient

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


def copy_outputs(jobs: Sequence[dict[str, Any]], out: Path) -> list[str]:
    written = []
    for job in jobs:
        if job["state"] != "succeeded" or not job.get("result"):
            continue
        for output in job["result"]["outputs"]:
            src = Path(output["path"])
            if src.is_file():
                written.append(str(atomic_copy(src, out)))
    return written


def write_result_timeline(client: BridgeClient, batch_id: str, source: Path, out: Path,
                          fmt: str | None) -> str:
    from .timeline import canonical_format, detect_format, result_path, suffix_for

    fmt = canonical_format(fmt) if fmt else detect_format(source)
    if fmt in ("otiod",):
        fmt = "otio_json"
    data = client.batch_timeline(batch_id, "otio" if fmt == "otio_json" else fmt)
    target = result_path(out / source.name, fmt)
    target = free_name(target.parent, target.name if target.suffix else
                       target.name + suffix_for(fmt))
    out.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return str(target)
