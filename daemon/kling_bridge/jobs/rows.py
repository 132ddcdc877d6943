"""A job as a row of the ``jobs`` table: its columns, and its tasks as JSON.

Pure conversions (no connection is opened here); :mod:`.store` writes and reads the rows,
and :mod:`.chains` inserts a link's job inside its own transaction with :func:`insert_jobs`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from .records import Job, JobError, JobKind, JobState, Task, TaskState

JOB_COLUMNS = (
    "id, batch_id, kind, provider, state, generation, attempts, spec, tasks, estimate_units, "
    "error, note, progress, result, not_before, created_at, updated_at, label, committed_at"
)


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


def dumps(value: Any) -> str:
    """Compact JSON for a column (UTF-8 kept as is: labels and paths are people's)."""
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
        dumps(dict(job.spec)),
        dumps([_task_to_json(t) for t in job.tasks]),
        job.estimate_units,
        dumps(job.error.as_dict()) if job.error else None,
        job.note,
        job.progress,
        dumps(dict(job.result)) if job.result is not None else None,
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
        f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({', '.join('?' * 19)})",
        [job_to_row(j) for j in jobs],
    )
