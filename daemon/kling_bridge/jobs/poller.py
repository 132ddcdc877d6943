"""One polling loop per provider for every task in flight.

Jobs do not poll on their own: a batch of 40 restyles would otherwise make 40 requests every
few seconds. Waiters register the task ids they care about; the loop asks the provider about
all of them at once (the provider batches, e.g. 20 ids per Kling query) and wakes each
waiter as soon as one of its tasks has finished. The next query comes after a share of the
youngest task's age (:func:`poll_delay`): a 60 s generation is noticed within about a second
of finishing, an hour-long 4K edit is asked about every ``max_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..providers.base import Provider, TaskStatus, poll_delay
from ..waiting import wait_event

log = logging.getLogger("kling_bridge.poller")


@dataclass
class _Waiter:
    ids: frozenset[str]
    future: asyncio.Future[dict[str, TaskStatus]]


class Poller:
    def __init__(self, provider: Provider, min_interval: float, max_interval: float,
                 fraction: float = 0.02) -> None:
        self.provider = provider
        self.min_interval = min_interval
        self.max_interval = max(min_interval, max_interval)
        self.fraction = fraction
        self._first_seen: dict[str, float] = {}  # task id -> when a waiter first asked
        self._waiters: list[_Waiter] = []
        self._task: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()
        self.polls = 0  # provider queries made (benchmarks and tests read it)

    async def wait_any(self, task_ids: Sequence[str], timeout: float) -> dict[str, TaskStatus]:
        """Return the statuses of ``task_ids`` once at least one of them has finished."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        for task_id in task_ids:
            self._first_seen.setdefault(task_id, now)
        waiter = _Waiter(frozenset(task_ids), loop.create_future())
        self._waiters.append(waiter)
        self._kick.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=f"kb-poll-{self.provider.name}")
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _interval(self) -> float:
        now = time.monotonic()
        ages = [now - self._first_seen.get(i, now) for w in self._waiters for i in w.ids]
        return poll_delay(min(ages, default=0.0), minimum=self.min_interval,
                          maximum=self.max_interval, fraction=self.fraction)

    async def _loop(self) -> None:
        backoff = 0.0  # extra wait after failed queries
        while self._waiters:
            await wait_event(self._kick, self._interval() + backoff)
            if self._kick.is_set():  # new work: look soon
                self._kick.clear()
                await asyncio.sleep(self.min_interval)
            ids = sorted({i for w in self._waiters for i in w.ids})
            if not ids:
                continue
            started = time.monotonic()
            try:
                statuses = await self.provider.poll(ids)
            except Exception as exc:  # transient: keep waiting, a little slower
                log.warning("polling %s failed: %s", self.provider.name, exc)
                backoff = min(self.max_interval, max(self.min_interval, backoff * 2))
                continue
            finally:
                self.polls += 1
            backoff = 0.0
            for w in list(self._waiters):
                mine = {i: s for i, s in statuses.items() if i in w.ids}
                if any(s.done for s in mine.values()) and not w.future.done():
                    w.future.set_result(mine)
            log.debug("polled %d task(s) in %.3fs", len(ids), time.monotonic() - started)
            self._forget_old(started)

    def _forget_old(self, now: float) -> None:
        """Drop ages of tasks nobody has waited for in a while (bounded memory)."""
        if len(self._first_seen) < 1024:
            return
        live = {i for w in self._waiters for i in w.ids}
        for task_id, seen in list(self._first_seen.items()):
            if task_id not in live and now - seen > 6 * 3600:
                del self._first_seen[task_id]

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
