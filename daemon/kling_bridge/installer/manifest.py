"""The install manifest: every file and folder install wrote, so uninstall removes exactly those.

A JSON file in the bridge's data folder. Each file is recorded with the hash of what we
wrote: uninstall removes a file only while it still holds those bytes (an editor's own
edits are kept, and said so), and puts back any file of theirs we had moved aside.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_text
from .plan import Command

FORMAT = 1


@dataclass
class Entry:
    component: str
    kind: str  # "file" | "symlink"
    sha256: str = ""  # files
    target: str = ""  # symlinks
    moved_aside: str = ""  # where the user's own file we replaced now is


@dataclass
class Manifest:
    files: dict[str, Entry] = field(default_factory=dict)
    dirs: dict[str, str] = field(default_factory=dict)  # folder we created -> component
    undo: list[Command] = field(default_factory=list)
    bridge_version: str = ""

    def components(self) -> set[str]:
        return {e.component for e in self.files.values()} | set(self.dirs.values()) | {
            c.component for c in self.undo}

    def is_empty(self) -> bool:
        return not (self.files or self.dirs or self.undo)

    # ------------------------------------------------------------ persistence

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "bridge_version": self.bridge_version,
            "files": {p: asdict(e) for p, e in sorted(self.files.items())},
            "dirs": dict(sorted(self.dirs.items())),
            "undo": [
                {"argv": list(c.argv), "why": c.why, "component": c.component,
                 "optional": c.optional, "fail_note": c.fail_note, "when": c.when,
                 "after_removal": c.after_removal}
                for c in self.undo
            ],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Manifest:
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown manifest format {data.get('format')!r}")
        return Manifest(
            files={p: Entry(**e) for p, e in data.get("files", {}).items()},
            dirs=dict(data.get("dirs", {})),
            undo=[Command(tuple(c["argv"]), c["why"], c["component"], c.get("when", "always"),
                          c.get("optional", False), c.get("fail_note", ""),
                          c.get("after_removal", False))
                  for c in data.get("undo", [])],
            bridge_version=data.get("bridge_version", ""),
        )


class ManifestError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def load(path: Path) -> Manifest:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Manifest()
    try:
        return Manifest.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(
            f"{path}: the install record is damaged ({exc})",
            "move it away and run 'kling-bridge install' again: files it finds identical "
            "are adopted, others are moved aside, nothing is lost",
        ) from exc


def save(path: Path, manifest: Manifest) -> None:
    """Write under a temp name and rename; remove the file when nothing is installed."""
    if manifest.is_empty():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    write_text(path, json.dumps(manifest.to_json(), indent=2) + "\n")
