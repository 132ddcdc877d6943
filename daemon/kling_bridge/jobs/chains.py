"""The chain driver: records chains, and starts each link when the job feeding it succeeds.

A chain is written to SQLite whole -- every link's spec template, the job id it will have
and its price -- in the same transaction as its batch and its first jobs, so nothing is paid
before the chain is durable. After that the driver only ever does one thing: for each link
not created yet whose parent job has succeeded, bind the template to the parent's result
(:func:`.chain_model.bind`) and insert the link's job *with its recorded id* while marking
the link created -- one transaction. So a crash at any instant leaves either no job (the
next pass creates it) or one job (never a second: the id is fixed and the link is marked),
and a finished link is never sent again: links are ordinary jobs, recovered by the engine.

The driver runs when the engine says a job changed state (a hook), and every few seconds
anyway; its first pass after a start is the recovery of chains a stop or a crash left
between two links.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..specs import JobSpec, spec_to_dict
from ..waiting import wait_event
from . import model as m
from .budget import check_caps, start_of_day
from .chain_model import (
    BLOCKED,
    ID_PREFIX,
    REFUSED,
    BindError,
    Link,
    LinkPlan,
    bind,
    chain_state,
    link_state,
)
from .costs import estimate_spec
from .engine import Engine, EngineError
from .store import insert_jobs

log = logging.getLogger("kling_bridge.chains")

#: Seconds between passes when nothing wakes the driver (a missed wake costs this much).
IDLE_PASS_SECONDS = 2.0
_LINK_COLUMNS = ("chain_id, idx, job_id, kind, parent, feed, template, label, estimate_units, "
                 "created, error")
CHAIN_ID_PATTERN = r"c[0-9a-f]{23}"


def _link_of(row: Sequence[Any]) -> Link:
    return Link(chain_id=row[0], index=row[1], job_id=row[2], kind=m.JobKind(row[3]),
                parent=row[4], feed=row[5], template=json.loads(row[6]), label=row[7],
                estimate_units=row[8], created=bool(row[9]), error=row[10] or "")


@dataclass
class Submitted:
    """A chain as recorded (or, for a dry run, as it would be)."""

    chain_id: str | None
    batch_id: str | None
    links: list[Link]
    jobs: list[m.Job]  # the jobs created now (dry run: every link's, as planned)
    estimate_units: float
    notes: list[str] = field(default_factory=list)


class Chains:
    """Records chains and advances them. One per engine (the daemon's app owns it)."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.store = engine.store
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        engine.hooks.append(self._heard)

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        """Recover chains left between links, then keep advancing them. Returns at once."""
        self._task = asyncio.create_task(self._loop(), name="kb-chains")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _heard(self, job: m.Job) -> None:
        if job.state is m.JobState.SUCCEEDED or job.terminal:
            self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.advance()
            except Exception:  # a bug: say so, and try again on the next pass
                log.exception("advancing chains failed")
            await wait_event(self._wake, IDLE_PASS_SECONDS)  # a stop's cancel ends it

    # ------------------------------------------------------------------ recording

    async def submit(self, plans: Sequence[LinkPlan], *, kind: str, provider: str | None,
                     request: dict[str, Any], dry_run: bool = False) -> Submitted:
        """Record a chain with its batch and its first jobs (one transaction), or -- for a
        dry run -- price every link and create nothing. Refused whole, before anything is
        stored, when the provider is held or a budget cap would break."""
        if not plans:
            raise EngineError("empty_chain", "nothing to do: the chain has no links")
        prov = self.engine.provider(provider)
        now = self.clock()
        ids = m.new_ids("j", len(plans), now)
        estimates = [estimate_spec(p.template, prov).units for p in plans]
        parents: list[str] = []
        for n, plan in enumerate(plans):
            if plan.after is not None:
                if not 0 <= plan.after < n:
                    raise EngineError("bad_chain", f"link {n + 1} follows link {plan.after + 1},"
                                      " which does not come before it")
                parents.append(ids[plan.after])
            else:
                parents.append(plan.after_job or "")
        outside = {p for p, plan in zip(parents, plans, strict=True) if plan.after_job}
        known = {j: self.store.get(j) for j in outside}
        for job_id, job in known.items():
            if job is None:
                raise EngineError("not_found", f"no job {job_id}",
                                  "list jobs with GET /v1/jobs", 404)
        chain_id = m.new_id(ID_PREFIX, now)
        links = [Link(chain_id, n, ids[n], plan.kind, parents[n], plan.feed,
                      spec_to_dict(plan.template), plan.label, estimates[n])
                 for n, plan in enumerate(plans)]
        total = round(sum(estimates), 6)
        if dry_run:
            planned = [self._job(link, plan.template, "", prov.name, now)
                       for link, plan in zip(links, plans, strict=True)]
            return Submitted(None, None, links, planned, total)
        if prov.capabilities.paid:
            self._check_spend(prov.name, max(estimates), total)
        batch_id = m.new_id("b", now)
        first: list[m.Job] = []
        for n, (link, plan) in enumerate(zip(links, plans, strict=True)):
            parent = known.get(link.parent) if plan.after_job else None
            if not link.parent:
                first.append(self._job(link, plan.template, batch_id, prov.name, now))
            elif parent is not None and parent.state is m.JobState.SUCCEEDED:
                try:
                    spec = bind(link, parent)
                except BindError as exc:
                    raise EngineError("bad_reference", str(exc),
                                      "pick a job that made a video") from exc
                first.append(self._job(link, spec, batch_id, prov.name, now))
            else:
                continue
            links[n] = replace(link, created=True)

        def record(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO chains (id, batch_id, kind, provider, created_at) "
                         "VALUES (?, ?, ?, ?, ?)", (chain_id, batch_id, kind, prov.name, now))
            conn.executemany(
                f"INSERT INTO chain_links ({_LINK_COLUMNS}) VALUES ({', '.join('?' * 11)})",
                [(lk.chain_id, lk.index, lk.job_id, str(lk.kind), lk.parent, lk.feed,
                  json.dumps(lk.template), lk.label, lk.estimate_units, int(lk.created), None)
                 for lk in links])

        await self.store.acreate_batch(batch_id, "chain", request, first, also=record)
        self._publish(first)
        self.engine.wake()
        self._wake.set()  # a parent may have finished meanwhile
        return Submitted(chain_id, batch_id, links, first, total)

    def _check_spend(self, provider: str, largest: float, total: float) -> None:
        """The engine's caps, on the whole chain: no link over the per-job cap, the chain's
        total within what is left of today's."""
        hold = self.engine.holds().get(provider)
        if hold:
            raise EngineError(hold["code"], hold["message"], hold["hint"], status=402)
        budget = self.engine.settings.budget
        committed = (self.store.committed_units_since(start_of_day(self.clock()))
                     if budget.per_day_units is not None else 0.0)
        verdict = check_caps(largest, total, per_job=budget.per_job_units,
                             per_day=budget.per_day_units, committed_today=committed)
        if not verdict.ok:
            raise EngineError("budget", f"the chain: {verdict.message}", verdict.hint, 402)

    def _job(self, link: Link, spec: JobSpec, batch_id: str, provider: str,
             now: float) -> m.Job:
        return m.Job(id=link.job_id, batch_id=batch_id, kind=link.kind, provider=provider,
                     spec=spec_to_dict(spec),
                     estimate_units=estimate_spec(spec, self.engine.provider(provider)).units,
                     created_at=now, updated_at=now, label=link.label)

    def _publish(self, jobs: Sequence[m.Job]) -> None:
        if self.engine.events.subscribers:
            for job in jobs:
                self.engine.events.publish("job", job)

    # ------------------------------------------------------------------ advancing

    async def advance(self) -> int:
        """Create every link whose parent job has succeeded; answer how many were made."""
        rows = self.store.read(
            f"SELECT {', '.join('l.' + c.strip() for c in _LINK_COLUMNS.split(','))}, "
            "c.batch_id, c.provider FROM chain_links l JOIN chains c ON c.id = l.chain_id "
            "WHERE l.created = 0 AND l.error IS NULL AND l.parent != '' "
            "ORDER BY l.chain_id, l.idx")
        made = 0
        for row in rows:
            link = _link_of(row[:11])
            batch_id, provider = row[11], row[12]
            parent = self.store.get(link.parent)
            if parent is None or parent.state is not m.JobState.SUCCEEDED:
                continue
            try:
                spec = bind(link, parent)
            except BindError as exc:
                await self._refuse(link, str(exc))
                continue
            try:
                job = self._job(link, spec, batch_id, provider, self.clock())
            except EngineError as exc:  # the provider is gone from this daemon's config
                await self._refuse(link, exc.message)
                continue
            if await self.store.awrite(_create_fn(link, job)):
                made += 1
                self._publish([job])
                log.info("chain %s: link %d started as job %s (after %s)", link.chain_id,
                         link.index + 1, job.id, parent.id)
        if made:
            self.engine.wake()
        return made

    async def _refuse(self, link: Link, why: str) -> None:
        def fn(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE chain_links SET error = ? WHERE chain_id = ? AND idx = ? "
                         "AND created = 0", (why, link.chain_id, link.index))

        await self.store.awrite(fn)
        log.warning("chain %s: link %d cannot start: %s", link.chain_id, link.index + 1, why)

    # ------------------------------------------------------------------ reading

    def links(self, chain_id: str) -> list[Link]:
        rows = self.store.read(f"SELECT {_LINK_COLUMNS} FROM chain_links WHERE chain_id = ? "
                               "ORDER BY idx", (chain_id,))
        return [_link_of(r) for r in rows]

    def of_batch(self, batch_id: str) -> list[dict[str, Any]]:
        """Every chain of a batch, described (see :meth:`describe`)."""
        rows = self.store.read("SELECT id FROM chains WHERE batch_id = ? ORDER BY id",
                               (batch_id,))
        return [d for r in rows if (d := self.describe(r[0])) is not None]

    def running(self, batch_id: str) -> bool:
        """Has the batch a chain with a link still to come? (a batch is done only then)"""
        return any(c["state"] == "running" for c in self.of_batch(batch_id))

    def describe(self, chain_id: str) -> dict[str, Any] | None:
        """The chain, its links with their jobs' states and results, what it costs, and --
        when a link failed or could not start -- what was kept and where it stopped."""
        rows = self.store.read("SELECT id, batch_id, kind, provider, created_at FROM chains "
                               "WHERE id = ?", (chain_id,))
        if not rows:
            return None
        cid, batch_id, kind, provider, created_at = rows[0]
        links = self.links(cid)
        jobs = {lk.job_id: self.store.get(lk.job_id) for lk in links}
        out_links: list[dict[str, Any]] = []
        states: list[str] = []
        for lk in links:
            job = jobs.get(lk.job_id)
            parent = jobs.get(lk.parent) if lk.parent in jobs else (
                self.store.get(lk.parent) if lk.parent else None)
            state = link_state(lk, job, parent)
            states.append(state)
            out_links.append({
                "index": lk.index, "job_id": lk.job_id, "kind": str(lk.kind), "label": lk.label,
                "after": lk.parent or None, "feed": lk.feed, "state": state,
                "estimate_units": lk.estimate_units,
                "billed_units": job.billed_units if job is not None else 0.0,
                "video": _video_path(job),
                "error": (job.error.as_dict() if job is not None and job.error else
                          ({"code": "refused", "message": lk.error, "hint": ""} if lk.error
                           else _blocked_error(state, parent))),
            })
        state = chain_state(states)
        answer: dict[str, Any] = {
            "id": cid, "batch_id": batch_id, "kind": kind, "provider": provider,
            "created_at": created_at, "state": state, "links": out_links,
            "estimate_units": round(sum(lk.estimate_units for lk in links), 6),
            "billed_units": round(sum(x["billed_units"] for x in out_links), 6),
            "kept": [], "stopped_at": None,
        }
        if state not in ("running", "succeeded"):
            answer["kept"] = [{"index": x["index"], "job_id": x["job_id"], "label": x["label"],
                               "video": x["video"]} for x in out_links
                              if x["state"] == "succeeded"]
            stop = next((x for x in out_links if x["state"] not in ("succeeded", BLOCKED)),
                        None)
            if stop is not None:
                answer["stopped_at"] = {"index": stop["index"], "job_id": stop["job_id"],
                                        "label": stop["label"], "state": stop["state"],
                                        "error": stop["error"]}
        return answer


def _create_fn(link: Link, job: m.Job) -> Callable[[sqlite3.Connection], bool]:
    """Mark the link created and insert its job, or do nothing if another pass did."""
    def fn(conn: sqlite3.Connection) -> bool:
        cur = conn.execute("UPDATE chain_links SET created = 1 WHERE chain_id = ? AND idx = ? "
                           "AND created = 0", (link.chain_id, link.index))
        if cur.rowcount != 1:
            return False
        insert_jobs(conn, [job])
        return True

    return fn


def _video_path(job: m.Job | None) -> str | None:
    if job is None or not job.result:
        return None
    for output in job.result.get("outputs", []):
        if output.get("role") == "video":
            return str(output.get("path"))
    return None


def _blocked_error(state: str, parent: m.Job | None) -> dict[str, str] | None:
    if state != BLOCKED or parent is None:
        return None
    return {"code": "blocked", "message": f"not started: {parent.label or parent.id} ended "
            f"{parent.state.value}", "hint": f"retry job {parent.id}; this link starts when "
            "it succeeds"}


__all__ = ["CHAIN_ID_PATTERN", "REFUSED", "Chains", "LinkPlan", "Submitted"]
