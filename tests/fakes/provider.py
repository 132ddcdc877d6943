"""A durable fake provider: stands in for a paid video service in engine and crash tests.

Its "servers" are a SQLite file, so tasks created by a daemon that is then killed with
SIGKILL are still there for the restarted daemon to find -- exactly what Kling's servers do.
It follows the contract the engine relies on: a duplicate idempotency key is refused
(like Kling's 1201), tasks are found by key, there is no cancel, and every create attempt
is counted so tests can prove "exactly one submission per task".

Faults are read from ``faults.json`` in its folder on every call, so a test can change
them while a daemon subprocess runs.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kling_bridge.atomic import write_text
from kling_bridge.providers.base import (
    Capabilities,
    Cost,
    ErrorKind,
    InputLimits,
    Operation,
    ProviderError,
    Reachability,
    TaskOutput,
    TaskPhase,
    TaskRequest,
    TaskStatus,
)


class FakeProvider:
    def __init__(
        self, root: Path, *, name: str = "fake", delay: float = 0.0, paid: bool = True
    ) -> None:
        self.name = name
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.delay = delay
        self.limits = InputLimits()
        self.capabilities = Capabilities(operations=frozenset(Operation), paid=paid)
        self.forgotten: list[str] = []  # keys the engine said it stopped tracking (cancel)
        self._db = root / "provider.sqlite3"
        with self._conn() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS tasks (task_id TEXT PRIMARY KEY, "
                "external_id TEXT UNIQUE, created_at REAL, seconds REAL, prompt TEXT)"
            )
            c.execute("CREATE TABLE IF NOT EXISTS attempts (external_id TEXT, at REAL)")

    # ---------------------------------------------------------------- test knobs

    def _conn(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._db, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    @property
    def faults_file(self) -> Path:
        return self.root / "faults.json"

    def set_faults(self, **faults: Any) -> None:
        write_text(self.faults_file, json.dumps(faults))

    def _faults(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.faults_file.read_text())
            return data
        except FileNotFoundError:
            return {}

    def _take_fault(self, name: str) -> bool:
        """Consume one count of a counted fault (``{"name": n}``)."""
        faults = self._faults()
        left = int(faults.get(name, 0))
        if left <= 0:
            return False
        faults[name] = left - 1
        self.set_faults(**faults)
        return True

    def created(self) -> dict[str, int]:
        with self._conn() as c:
            rows = c.execute("SELECT external_id, COUNT(*) FROM tasks GROUP BY external_id")
            return {r[0]: r[1] for r in rows}

    def attempts(self) -> dict[str, int]:
        with self._conn() as c:
            rows = c.execute("SELECT external_id, COUNT(*) FROM attempts GROUP BY external_id")
            return {r[0]: r[1] for r in rows}

    # ---------------------------------------------------------------- the port

    def validate(self, request: TaskRequest) -> None:
        # Runs in a worker thread: a fault can hold the thread (a hung network drive).
        time.sleep(float(self._faults().get("validate_sleep", 0.0)))
        if len(request.prompt) > self.limits.prompt_max_chars:
            raise ProviderError(ErrorKind.BAD_REQUEST, "prompt too long", code=1201)

    def estimate(self, request: TaskRequest) -> Cost:
        return Cost(round(request.output_seconds * 1.0, 6)) if self.capabilities.paid else Cost()

    async def submit(self, request: TaskRequest, external_id: str) -> str:
        # A remote service: its work happens elsewhere, so its SQLite runs off our loop.
        await asyncio.sleep(float(self._faults().get("submit_latency", 0.0)))
        task_id = await asyncio.to_thread(self._create, request, external_id)
        await asyncio.sleep(float(self._faults().get("post_create_latency", 0.0)))
        if self._take_fault("server_error_after_create"):
            raise ProviderError(
                ErrorKind.SERVER, "internal error", code=5000, http_status=500, maybe_created=True
            )
        if self._take_fault("drop_after_create"):
            raise ConnectionResetError("connection dropped after the create")
        return task_id

    def _create(self, request: TaskRequest, external_id: str) -> str:
        """One create as the service sees it: the attempt and the task it makes are written
        in one transaction, as a real service commits a request it accepted whole -- a kill
        of this process (which hosts the fake's "servers") can never leave a request that
        arrived and half-created a task."""
        refusal: ProviderError | None = None
        if self._take_fault("rate_limit"):
            refusal = ProviderError(
                ErrorKind.RATE_LIMIT, "concurrency over the pack limit", code=1303, http_status=429
            )
        elif self._faults().get("quota"):
            refusal = ProviderError(
                ErrorKind.QUOTA, "resource pack exhausted", code=1102, hint="buy credits"
            )
        elif "POLICY" in request.prompt:
            refusal = ProviderError(ErrorKind.POLICY, "content safety: prompt refused", code=1301)
        task_id = f"t-{external_id}"
        duplicate = False
        c = self._conn()  # autocommit connection: the transaction is spelled out
        try:
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO attempts VALUES (?, ?)", (external_id, time.time()))
            if refusal is None:
                try:
                    c.execute(
                        "INSERT INTO tasks VALUES (?, ?, ?, ?, ?)",
                        (task_id, external_id, time.time(), request.output_seconds,
                         request.prompt),
                    )
                except sqlite3.IntegrityError:  # the statement is undone, the attempt kept
                    duplicate = True
            c.execute("COMMIT")
        finally:
            if c.in_transaction:
                c.execute("ROLLBACK")
            c.close()
        if refusal is not None:
            raise refusal
        if duplicate:
            raise ProviderError(
                ErrorKind.DUPLICATE, "external_task_id already used", code=1201, http_status=400,
                maybe_created=True,
            )
        return task_id

    def _status(self, row: Sequence[Any]) -> TaskStatus:
        task_id, ext, created, seconds, prompt = row
        if time.time() - created < self.delay:
            return TaskStatus(task_id, ext, TaskPhase.PROCESSING)
        if "FAILME" in (prompt or ""):
            return TaskStatus(task_id, ext, TaskPhase.FAILED, message="the model refused")
        return TaskStatus(
            task_id,
            ext,
            TaskPhase.SUCCEEDED,
            outputs=(TaskOutput(url=f"fake://{task_id}", output_id=task_id, duration=seconds),),
            billed=self.estimate_seconds(seconds),
        )

    def estimate_seconds(self, seconds: float) -> Cost:
        return Cost(seconds) if self.capabilities.paid else Cost()

    def locate(self, request: TaskRequest) -> str:
        return "fake"

    async def lookup(self, external_ids: Sequence[str], where: str = ""
                     ) -> dict[str, TaskStatus]:
        if self._take_fault("lookup_error"):
            raise ProviderError(ErrorKind.CONNECTION, "lookup failed", maybe_created=False)
        rows = await asyncio.to_thread(self._rows, "external_id", external_ids)
        return {r[1]: self._status(r) for r in rows}

    async def poll(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        rows = await asyncio.to_thread(self._rows, "task_id", task_ids)
        return {r[0]: self._status(r) for r in rows}

    def _rows(self, column: str, ids: Sequence[str]) -> list[Any]:
        with self._conn() as c:
            return c.execute(
                f"SELECT * FROM tasks WHERE {column} IN ({','.join('?' * len(ids))})", list(ids)
            ).fetchall()

    async def fetch(self, output: TaskOutput, dest: Path) -> Path:
        if self._take_fault("fetch_error"):
            raise ProviderError(ErrorKind.CONNECTION, "download dropped")
        return write_text(dest, f"output of {output.output_id}\n")

    async def forget(self, external_id: str) -> None:
        if self._take_fault("forget_error"):
            raise ProviderError(ErrorKind.CONNECTION, "the media host did not answer")
        self.forgotten.append(external_id)

    async def check(self) -> Reachability:
        return Reachability(True, "fake provider")

    async def aclose(self) -> None:
        return None
