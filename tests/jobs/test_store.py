"""The durable store: migrations, group commit, cancellation, crash safety of a row."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kling_bridge.jobs import model as m
from kling_bridge.jobs.store import SCHEMA_VERSION, JobStore, StoreError, migrate

ROOT = Path(__file__).resolve().parents[2]


def job(n: int = 0) -> m.Job:
    return m.Job(
        id=m.new_id("j"),
        batch_id="b" + "0" * 23,
        kind=m.JobKind.GENERATE,
        provider="fake",
        spec={"prompt": f"p{n}"},
        created_at=1.0,
        updated_at=1.0,
    )


def test_schema_is_migrated_in_steps_and_refuses_newer(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    assert migrate(conn) == SCHEMA_VERSION
    assert migrate(conn) == SCHEMA_VERSION  # idempotent
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer kling-bridge"):
        migrate(conn)
    conn.close()


def test_wal_and_full_sync(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    try:
        assert store.read("PRAGMA journal_mode")[0][0] == "wal"
        assert store._wconn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        store.close()


async def test_concurrent_writes_group_commit_and_one_bad_write_sinks_nothing(
    tmp_path: Path,
) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    try:
        jobs = [job(n) for n in range(200)]
        await store.acreate_batch("b" + "0" * 23, "generate", {}, jobs[:1])
        dup = store.acreate_batch("b" + "0" * 23, "generate", {}, jobs[1:2])  # same batch id
        saves = [store.asave(m.apply(j, m.Cancel(), 2.0)) for j in jobs[:1]]
        results = await asyncio.gather(dup, *saves, return_exceptions=True)
        assert isinstance(results[0], sqlite3.IntegrityError)
        assert store.get(jobs[0].id).state is m.JobState.CANCELLED  # type: ignore[union-attr]
        assert store.get(jobs[1].id) is None
    finally:
        store.close()


async def test_a_cancelled_writer_never_kills_the_writer_thread(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    try:
        first = job()
        await store.acreate_batch("b" + "1" * 23, "generate", {}, [first])
        tasks = [
            asyncio.create_task(store.asave(m.apply(first, m.Cancel(), float(n))))
            for n in range(50)
        ]
        await asyncio.sleep(0)
        for t in tasks[::2]:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # The writer still works after callers vanished mid-flight.
        second = job(1)
        await asyncio.wait_for(store.acreate_batch("b" + "2" * 23, "generate", {}, [second]), 5)
        assert store.get(second.id) is not None
        assert store._writer.is_alive()
    finally:
        store.close()


def test_row_survives_kill_9_right_after_the_write_returns(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite3"
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT / "daemon")!r})
from kling_bridge.jobs import model as m
from kling_bridge.jobs.store import JobStore
store = JobStore(__import__('pathlib').Path({str(db)!r}))
j = m.Job(id=m.new_id('j'), batch_id='b' + '0' * 23, kind=m.JobKind.GENERATE, provider='x',
          spec={{}})
store.create_batch('b' + '0' * 23, 'generate', {{}}, [j])
j = m.apply(m.apply(m.apply(j, m.Start(), 1), m.Prepared(1, 1.0), 1), m.SendIntent(0), 1)
store.save(j)
print(j.id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9
    job_id = proc.stdout.strip()
    store = JobStore(db)
    try:
        saved = store.get(job_id)
        assert saved is not None and saved.tasks[0].state is m.TaskState.SENDING
        assert saved.tasks[0].external_id == m.external_id(job_id, 0, 1)
    finally:
        store.close()


def test_a_batchs_jobs_come_back_in_the_order_they_were_asked_for(tmp_path: Path) -> None:
    """Ids made in one moment still sort in order (the editor's order of clips and looks)."""
    now = 1_700_000_000.0
    ids = m.new_ids("j", 300, now)
    assert all(m.valid_id(i) for i in ids) and len(set(ids)) == 300
    assert sorted(ids) == ids
    assert len({i[-8:] for i in ids}) == 300  # the random tag output names use
    batch = m.new_id("b", now)
    jobs = [m.Job(id=i, batch_id=batch, kind=m.JobKind.GENERATE, provider="draft", spec={},
                  created_at=now, updated_at=now, label=f"n{n}") for n, i in enumerate(ids)]
    store = JobStore(tmp_path / "jobs.sqlite3")
    try:
        store.create_batch(batch, "generate", {}, list(reversed(jobs)))
        assert [j.label for j in store.batch_jobs(batch)] == [f"n{n}" for n in range(300)]
    finally:
        store.close()
