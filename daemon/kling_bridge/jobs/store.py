"""Durable job store: SQLite in WAL mode with ``synchronous=FULL``.

A job row is the whole job (its tasks as JSON), so every transition is one row written in
one atomic step, committed before the engine acts on it: when ``SendIntent`` returns, the
idempotency key is on disk, and a ``kill -9`` a microsecond later loses nothing.

Writes go through one writer thread that *group-commits*: transitions arriving together
share a transaction (each in its own savepoint, so one bad write never sinks another), and
every caller's future resolves only after the fsync. That keeps durability per transition
while 50 clients creating jobs at once cost one fsync, not fifty.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from .model import (
    TERMINAL,
    Job,
    JobError,
    JobKind,
    JobState,
    Task,
    TaskState,
)

T = TypeVar("T")

SCHEMA_VERSION = 3

#: Ordered migrations: index i upgrades a database at version i to i + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        created_at REAL NOT NULL,
        request TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        batch_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        provider TEXT NOT NULL,
        state TEXT NOT NULL,
        generation INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        spec TEXT NOT NULL,
        tasks TEXT NOT NULL,
        estimate_units REAL NOT NULL,
        error TEXT,
        note TEXT NOT NULL,
        progress REAL NOT NULL,
        result TEXT,
        not_before REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        label TEXT NOT NULL
    );
    CREATE INDEX jobs_by_state ON jobs (state, provider, created_at);
    CREATE INDEX jobs_by_batch ON jobs (batch_id, created_at);
    """,
    """
    ALTER TABLE jobs ADD COLUMN committed_at REAL NOT NULL DEFAULT 0;
    CREATE INDEX jobs_by_commit ON jobs (committed_at);
    CREATE TABLE result_cache (
        key TEXT PRIMARY KEY,
        files TEXT NOT NULL,
        job_id TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    # Chains (jobs.chains): links are ordinary jobs whose ids are chosen -- and recorded
    # with each link's spec template -- before anything is paid; a link's job is inserted
    # when its parent job has succeeded. Elements: characters and products kept per project.
    """
    CREATE TABLE chains (
        id TEXT PRIMARY KEY,
        batch_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        provider TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX chains_by_batch ON chains (batch_id);
    CREATE TABLE chain_links (
        chain_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        job_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        parent TEXT NOT NULL,
        feed TEXT NOT NULL,
        template TEXT NOT NULL,
        label TEXT NOT NULL,
        estimate_units REAL NOT NULL,
        created INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        PRIMARY KEY (chain_id, idx)
    );
    CREATE INDEX chain_links_open ON chain_links (created, parent);
    CREATE TABLE elements (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        images TEXT NOT NULL,
        element_id TEXT,
        description TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX elements_by_name ON elements (project, name COLLATE NOCASE);
    """,
)

_JOB_COLUMNS = (
    "id, batch_id, kind, provider, state, generation, attempts, spec, tasks, estimate_units, "
    "error, note, progress, result, not_before, created_at, updated_at, label, committed_at"
)


class StoreError(Exception):
    pass


class ConcurrentUpdate(StoreError):
    """The row changed under us: someone else transitioned the job first."""


def _task_to_json(t: Task) -> dict[str, Any]:
    return {
        "index": t.index,
        "generation": t.generation,
        "external_id": t.external_id,
        "state": str(t.state),
        "provider_task_id": t.provider_task_id,
        "sends": t.sends,
        "cleared": t.cleared,
        "message": t.message,
        "outputs": list(t.outputs),
        "files": list(t.files),
        "billed_units": t.billed_units,
        "cached": t.cached,
        "where": t.where,
        "unknown_since": t.unknown_since,
    }


def _task_from_json(d: dict[str, Any]) -> Task:
    return Task(
        index=d["index"],
        generation=d["generation"],
        external_id=d["external_id"],
        state=TaskState(d["state"]),
        provider_task_id=d.get("provider_task_id"),
        sends=d.get("sends", 0),
        cleared=d.get("cleared", 0),
        message=d.get("message", ""),
        outputs=tuple(d.get("outputs", ())),
        files=tuple(d.get("files", ())),
        billed_units=d.get("billed_units"),
        cached=d.get("cached", False),
        where=d.get("where", ""),
        unknown_since=d.get("unknown_since", 0.0),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def job_to_row(job: Job) -> tuple[Any, ...]:
    return (
        job.id,
        job.batch_id,
        str(job.kind),
        job.provider,
        str(job.state),
        job.generation,
        job.attempts,
        _dumps(dict(job.spec)),
        _dumps([_task_to_json(t) for t in job.tasks]),
        job.estimate_units,
        _dumps(job.error.as_dict()) if job.error else None,
        job.note,
        job.progress,
        _dumps(dict(job.result)) if job.result is not None else None,
        job.not_before,
        job.created_at,
        job.updated_at,
        job.label,
        job.committed_at,
    )


def job_from_row(row: Sequence[Any]) -> Job:
    err = json.loads(row[10]) if row[10] else None
    return Job(
        id=row[0],
        batch_id=row[1],
        kind=JobKind(row[2]),
        provider=row[3],
        state=JobState(row[4]),
        generation=row[5],
        attempts=row[6],
        spec=json.loads(row[7]),
        tasks=tuple(_task_from_json(t) for t in json.loads(row[8])),
        estimate_units=row[9],
        error=JobError(**err) if err else None,
        note=row[11],
        progress=row[12],
        result=json.loads(row[13]) if row[13] else None,
        not_before=row[14],
        created_at=row[15],
        updated_at=row[16],
        label=row[17],
        committed_at=row[18],
    )


def insert_jobs(conn: sqlite3.Connection, jobs: Iterable[Job]) -> None:
    """New job rows (inside a caller's write: see :meth:`JobStore.awrite`)."""
    conn.executemany(
        f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES ({', '.join('?' * 19)})",
        [job_to_row(j) for j in jobs],
    )


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`, one migration per transaction."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    version = 0
    if has_meta:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the job database is from a newer kling-bridge (schema {version} > "
            f"{SCHEMA_VERSION}); upgrade kling-bridge"
        )
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            version += 1
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(version),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version


_WriteOp = tuple[Callable[[sqlite3.Connection], Any], "Future[Any]"]


class _Writer(threading.Thread):
    """The one thread that writes. Group-commits whatever is queued when it wakes."""

    MAX_GROUP = 256

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(name="kling-bridge-store-writer", daemon=True)
        self.conn = conn
        self.inbox: queue.SimpleQueue[_WriteOp | None] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            first = self.inbox.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.MAX_GROUP:
                try:
                    item = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self.inbox.put(None)  # stop after this group
                    break
                group.append(item)
            self._commit(group)

    def _commit(self, group: list[_WriteOp]) -> None:
        # A caller cancelled before its write began gets nothing written; once a write
        # has begun it can no longer be cancelled, so what it reports is what is on disk.
        group = [(fn, fut) for fn, fut in group if fut.set_running_or_notify_cancel()]
        if not group:
            return
        outcomes: list[tuple[Future[Any], bool, Any]] = []
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, fut in group:
                conn.execute("SAVEPOINT op")
                try:
                    value = fn(conn)
                except BaseException as exc:  # one bad write must not sink the group
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((fut, False, exc))
                else:
                    conn.execute("RELEASE op")
                    outcomes.append((fut, True, value))
            conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(StoreError(f"database write failed: {exc}"))
            return
        for fut, ok, value in outcomes:
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)


class JobStore:
    """Thread-safe store. Sync methods for the CLI and tests, ``a*`` ones for the event loop."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._wconn = _connect(path)
        migrate(self._wconn)
        self._rconn = _connect(path)
        self._rlock = threading.Lock()
        self._writer = _Writer(self._wconn)
        self._writer.start()
        self._closed = False

    # ------------------------------------------------------------ plumbing

    def _submit(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        if self._closed:
            raise StoreError("the job store is closed")
        fut: Future[T] = Future()
        self._writer.inbox.put((fn, fut))
        return fut

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._submit(fn).result()

    async def awrite(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.wrap_future(self._submit(fn))

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._rlock:
            return self._rconn.execute(sql, params).fetchall()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.inbox.put(None)
        self._writer.join(timeout=30)
        self._wconn.close()
        self._rconn.close()

    # ------------------------------------------------------------ writes

    @staticmethod
    def _insert_jobs(conn: sqlite3.Connection, jobs: Iterable[Job]) -> None:
        insert_jobs(conn, jobs)

    def _create_batch_fn(
        self, batch_id: str, kind: str, request: dict[str, Any], jobs: Sequence[Job],
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> Callable[[sqlite3.Connection], None]:
        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO batches (id, kind, created_at, request) VALUES (?, ?, ?, ?)",
                (batch_id, kind, time.time(), _dumps(request)),
            )
            self._insert_jobs(conn, jobs)
            if also is not None:  # rows that belong with the batch (a chain's links)
                also(conn)

        return fn

    def create_batch(
        self, batch_id: str, kind: str, request: dict[str, Any], jobs: Sequence[Job]
    ) -> None:
        self.write(self._create_batch_fn(batch_id, kind, request, jobs))

    async def acreate_batch(
        self, batch_id: str, kind: str, request: dict[str, Any], jobs: Sequence[Job],
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """The batch and its jobs -- and ``also``'s rows -- in one transaction."""
        await self.awrite(self._create_batch_fn(batch_id, kind, request, jobs, also))

    @staticmethod
    def _save_fn(job: Job, expect_updated_at: float | None) -> Callable[[sqlite3.Connection], Job]:
        row = job_to_row(job)

        def fn(conn: sqlite3.Connection) -> Job:
            sets = ", ".join(f"{c.strip()} = ?" for c in _JOB_COLUMNS.split(",")[1:])
            sql = f"UPDATE jobs SET {sets} WHERE id = ?"
            params: list[Any] = [*row[1:], job.id]
            if expect_updated_at is not None:
                sql += " AND updated_at = ?"
                params.append(expect_updated_at)
            cur = conn.execute(sql, params)
            if cur.rowcount != 1:
                raise ConcurrentUpdate(f"job {job.id} changed before this update was written")
            return job

        return fn

    def save(self, job: Job, expect_updated_at: float | None = None) -> Job:
        return self.write(self._save_fn(job, expect_updated_at))

    async def asave(self, job: Job, expect_updated_at: float | None = None) -> Job:
        return await self.awrite(self._save_fn(job, expect_updated_at))

    async def aput_cache(self, key: str, files: Sequence[str], job_id: str) -> None:
        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO result_cache (key, files, job_id, created_at) "
                "VALUES (?, ?, ?, ?)",
                (key, _dumps(list(files)), job_id, time.time()),
            )

        await self.awrite(fn)

    # ------------------------------------------------------------ reads

    def get(self, job_id: str) -> Job | None:
        rows = self.read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return job_from_row(rows[0]) if rows else None

    def query(
        self,
        *,
        states: Iterable[JobState] | None = None,
        batch_id: str | None = None,
        provider: str | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[Job]:
        """Newest first; ``before`` pages by id (ids sort by creation time)."""
        where: list[str] = []
        params: list[Any] = []
        if states is not None:
            st = [str(s) for s in states]
            where.append(f"state IN ({', '.join('?' * len(st))})")
            params.extend(st)
        if batch_id is not None:
            where.append("batch_id = ?")
            params.append(batch_id)
        if provider is not None:
            where.append("provider = ?")
            params.append(provider)
        if before is not None:
            where.append("id < ?")
            params.append(before)
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [job_from_row(r) for r in self.read(sql, params)]

    def batch_jobs(self, batch_id: str) -> list[Job]:
        rows = self.read(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE batch_id = ? ORDER BY id", (batch_id,)
        )
        return [job_from_row(r) for r in rows]

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        rows = self.read(
            "SELECT id, kind, created_at, request FROM batches WHERE id = ?", (batch_id,)
        )
        if not rows:
            return None
        r = rows[0]
        return {"id": r[0], "kind": r[1], "created_at": r[2], "request": json.loads(r[3])}

    def unfinished(self) -> list[Job]:
        """Every job a restart must resume (non-terminal), oldest first."""
        done = [str(s) for s in TERMINAL]
        rows = self.read(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state NOT IN (?, ?, ?) ORDER BY id", done
        )
        return [job_from_row(r) for r in rows]

    def next_queued(self, provider: str, limit: int, now: float, exclude: set[str]) -> list[Job]:
        """The oldest queued jobs of ``provider`` whose backoff has passed."""
        rows = self.read(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = 'queued' AND provider = ? "
            "AND not_before <= ? ORDER BY id LIMIT ?",
            (provider, now, limit + len(exclude)),
        )
        jobs = [job_from_row(r) for r in rows if r[0] not in exclude]
        return jobs[:limit]

    def earliest_queued_wake(self, provider: str) -> float | None:
        rows = self.read(
            "SELECT MIN(not_before) FROM jobs WHERE state = 'queued' AND provider = ?",
            (provider,),
        )
        return rows[0][0] if rows and rows[0][0] is not None else None

    def committed_units_since(self, since: float) -> float:
        """Credits committed by jobs whose first paid send was at or after ``since``."""
        rows = self.read(
            "SELECT estimate_units, tasks FROM jobs WHERE committed_at >= ? AND committed_at > 0",
            (since,),
        )
        total = 0.0
        for est, tasks_json in rows:
            tasks = json.loads(tasks_json)
            billed = sum((t.get("billed_units") or 0.0) for t in tasks if not t.get("cached"))
            total += max(est, billed)
        return round(total, 6)

    def get_cache(self, key: str) -> list[str] | None:
        rows = self.read("SELECT files FROM result_cache WHERE key = ?", (key,))
        if not rows:
            return None
        files: list[str] = json.loads(rows[0][0])
        return files

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.read("SELECT state, COUNT(*) FROM jobs GROUP BY state")}

    def schema_version(self) -> int:
        rows = self.read("SELECT value FROM meta WHERE key='schema_version'")
        return int(rows[0][0])


def with_times(job: Job, now: float) -> Job:
    return replace(job, created_at=job.created_at or now, updated_at=now)
