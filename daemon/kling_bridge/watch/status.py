"""``kling-bridge status``: the watched folders and how many items wait, work, are done or
failed -- read from the folders themselves, so it is true whether or not a daemon runs.

Watched folders are the ``[[watch]]`` entries of config.toml and any folder a live
``kling-bridge watch`` process holds (the ledger's watchers table).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from ..config import ConfigError, Paths, load_settings
from .layout import Layout
from .scan import walk_items


def _count(layout: Layout) -> int:
    return sum(1 for _ in walk_items(layout))


def folder_counts(root: Path) -> dict[str, int]:
    layout = Layout(root)
    return {
        "waiting": _count(layout),
        "working": _count(Layout(layout.processing)),
        "done": _count(Layout(layout.processed)),
        "failed": _count(Layout(layout.failed)),
    }


def watch_report(paths: Paths, daemon_running: bool) -> list[dict[str, Any]]:
    """One row per watched folder: where, who watches it, and its counts."""
    rows: dict[str, dict[str, Any]] = {}
    with contextlib.suppress(ConfigError):
        for entry in load_settings(paths).watch:
            root = str(Path(entry.path).expanduser().resolve())
            rows[root] = {"folder": root, "watched_by": "daemon" if daemon_running else
                          "nobody (the daemon is not running)"}
    ledger = paths.data_dir / "watch.sqlite3"
    if ledger.exists():
        from .ledger import Ledger

        with contextlib.suppress(sqlite3.Error):
            store = Ledger(ledger)
            try:
                for held in store.watchers():
                    who = "daemon" if held["mode"] == "daemon" else (
                        f"kling-bridge watch (pid {held['pid']})")
                    rows[held["folder"]] = {"folder": held["folder"], "watched_by": who}
            finally:
                store.close()
    for row in rows.values():
        folder = Path(row["folder"])
        row["counts"] = folder_counts(folder) if folder.is_dir() else None
    return sorted(rows.values(), key=lambda r: str(r["folder"]))


def report_lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["watch folders: none (kling-bridge watch FOLDER, or [[watch]] in config.toml)"]
    lines = ["watch folders:"]
    for row in rows:
        counts = row["counts"]
        figures = ("missing" if counts is None else
                   ", ".join(f"{k} {v}" for k, v in counts.items()))
        lines.append(f"  {row['folder']}: {figures} (watched by {row['watched_by']})")
    return lines
