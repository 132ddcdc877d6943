"""The watch ledger: which dropped work was started, submitted, finished -- across restarts.

An item's key is the hash of its content (every file of a bundle, the image and its prompt)
and of the settings that shape its result, never its name or folder: a restart, the same
file dropped again, or a copy under another name finds the row and does not redo, or pay
for, finished work. A row moves ``claimed`` (moved to processing/) -> ``submitted`` (a
batch exists; its id is here) -> ``finishing`` (results staged, names chosen) -> ``done`` or
``failed``. A failed key may be tried again: ``attempt`` counts, and the submission's
idempotency key includes it, so a retry makes a new batch while a crash-and-resume finds
the old one.

SQLite in the bridge's data folder (``watch.sqlite3``), WAL, shared by the daemon's watches
and ``kling-bridge watch`` processes; a folder is held by one live watcher at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api.discovery import pid_alive
from ..jobs.cache import file_digest

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    folder TEXT NOT NULL,
    rel TEXT NOT NULL,
    work TEXT NOT NULL DEFAULT '',
    batch_id TEXT,
    estimate REAL,
    outputs TEXT NOT NULL DEFAULT '[]',
    verdict TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_folder_state ON items (folder, state);
CREATE TABLE IF NOT EXISTS watchers (
    folder TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    mode TEXT NOT NULL,
    started REAL NOT NULL,
    beat REAL NOT NULL
);
"""

IN_FLIGHT = ("claimed", "submitted", "finishing")
#: A watcher that has not said it is alive for this long has gone (its pid may be reused).
STALE_SECONDS = 90.0


def content_digest(paths: Iterable[Path]) -> str:
    """The content of an item's files (a bundle: every file in it, by relative path).

    Blocking: call it from a worker thread.
    """
    h = hashlib.sha256(b"kb-watch-content-1\n")
    for path in paths:
        if path.is_dir():
            for sub in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = sub.relative_to(path).as_posix()
                if rel.startswith(".") or "/." in rel:
                    continue
                h.update(f"{rel}\0{file_digest(sub)}\n".encode())
        else:
            h.update(f"{path.suffix.lower()}\0{file_digest(path)}\n".encode())
    return h.hexdigest()


def ledger_key(content: str, settings_fingerprint: str) -> str:
    return hashlib.sha256(f"{content}\n{settings_fingerprint}".encode()).hexdigest()


@dataclass
class Entry:
    key: str
    state: str
    attempt: int
    folder: str
    rel: str
    work: str = ""
    batch_id: str | None = None
    estimate: float | None = None
    outputs: list[dict[str, str]] = field(default_factory=list)  # the results plan
    verdict: str = ""  # "processed" | "failed" once the batch has ended
    message: str = ""
    created: float = 0.0
    updated: float = 0.0

    @property
    def idempotency_key(self) -> str:
        return f"watch:{self.key[:40]}:{self.attempt}"


_COLUMNS = ("key, state, attempt, folder, rel, work, batch_id, estimate, outputs, verdict, "
            "message, created, updated")


def _entry(row: tuple[Any, ...]) -> Entry:
    values = list(row)
    values[8] = json.loads(values[8])
    return Entry(*values)


class Ledger:
    """Thread-safe; every write is its own transaction (WAL: durable across kill -9)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------ items

    def get(self, key: str) -> Entry | None:
        rows = self._run(f"SELECT {_COLUMNS} FROM items WHERE key = ?", (key,))
        return _entry(rows[0]) if rows else None

    def in_folder(self, folder: str, states: Iterable[str]) -> list[Entry]:
        states = list(states)
        rows = self._run(
            f"SELECT {_COLUMNS} FROM items WHERE folder = ? AND state IN "
            f"({','.join('?' * len(states))}) ORDER BY created", (folder, *states))
        return [_entry(r) for r in rows]

    def claim(self, key: str, folder: str, rel: str, work: str) -> Entry:
        """Start (or start again, after a failure) the work of ``key``; returns the row."""
        now = time.time()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute("SELECT state, attempt FROM items WHERE key = ?",
                                         (key,)).fetchone()
                if row is None:
                    attempt = 1
                    self._conn.execute(
                        f"INSERT INTO items ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (key, "claimed", 1, folder, rel, work, None, None, "[]", "", "", now,
                         now))
                else:
                    attempt = row[1] + 1 if row[0] in ("failed", "done") else row[1]
                    self._conn.execute(
                        "UPDATE items SET state='claimed', attempt=?, folder=?, rel=?, work=?, "
                        "batch_id=NULL, estimate=NULL, outputs='[]', verdict='', message='', "
                        "updated=? WHERE key=?", (attempt, folder, rel, work, now, key))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        entry = self.get(key)
        assert entry is not None
        return entry

    def update(self, key: str, **values: Any) -> None:
        if "outputs" in values:
            values["outputs"] = json.dumps(values["outputs"])
        values["updated"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in values)
        self._run(f"UPDATE items SET {sets} WHERE key = ?", (*values.values(), key))

    def forget(self, key: str) -> None:
        self._run("DELETE FROM items WHERE key = ?", (key,))

    def counts(self, folder: str) -> dict[str, int]:
        rows = self._run("SELECT state, COUNT(*) FROM items WHERE folder = ? GROUP BY state",
                         (folder,))
        return {r[0]: r[1] for r in rows}

    # ------------------------------------------------------------ watchers

    def hold(self, folder: str, mode: str) -> int | None:
        """Register this process as the folder's watcher; the pid of a live other one if held."""
        now = time.time()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute("SELECT pid, beat FROM watchers WHERE folder = ?",
                                         (folder,)).fetchone()
                if row and row[0] != os.getpid() and _live(row[0], row[1], now):
                    self._conn.execute("ROLLBACK")
                    return int(row[0])
                self._conn.execute(
                    "INSERT OR REPLACE INTO watchers VALUES (?, ?, ?, ?, ?)",
                    (folder, os.getpid(), mode, now, now))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return None

    def beat(self, folder: str) -> None:
        """Say this watcher is alive (see :data:`STALE_SECONDS`)."""
        self._run("UPDATE watchers SET beat = ? WHERE folder = ? AND pid = ?",
                  (time.time(), folder, os.getpid()))

    def release(self, folder: str) -> None:
        self._run("DELETE FROM watchers WHERE folder = ? AND pid = ?", (folder, os.getpid()))

    def watchers(self) -> list[dict[str, Any]]:
        """Folders held by live watcher processes."""
        rows = self._run("SELECT folder, pid, mode, started, beat FROM watchers ORDER BY folder")
        now = time.time()
        return [{"folder": r[0], "pid": r[1], "mode": r[2], "started": r[3]}
                for r in rows if _live(r[1], r[4], now)]


def _live(pid: int, beat: float, now: float) -> bool:
    return now - beat < STALE_SECONDS and pid_alive(pid)

