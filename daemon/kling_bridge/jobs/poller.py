"""One polling loop per provider for every task in flight.

Jobs do not poll on their own: a batch of 40 restyles would otherwise make 40 requests every
few seconds. Waiters register the task ids they care about; the loop asks the provider about
all of them at once (the provider batches, e.g. 20 ids per Kling query), backs off from
``min_interval`` to ``max_interval`` while nothing changes, and wakes each waiter as soon as
one of its tasks has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..providers.base import Provider, TaskStatus

log = logging.getLogger("kling_bridge.poller")


@dataclass
class _Waiter:
    ids: frozenset[str]
    future: asyncio.Future[dict[str, TaskStatus]]
    seen: dict[str, TaskStatus] = field(default_factory=dict)


class Poller:
    def __init__(self, provider: Provider, min_interval: float, max_interval: float) -> None:
        self.provider = provider
        self.min_interval = min_interval
        self.max_interval = max(min_interval, max_interval)
        self._waiters: list[_Waiter] = []
        self._task: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()
        self.polls = 0  # provider queries made (benchmarks and tests read it)

    async def wait_any(self, task_ids: Sequence[str], timeout: float) -> dict[str, TaskStatus]:
        """Return the statuses of ``task_ids`` once at least one of them has finished."""
        loop = asyncio.get_running_loop()
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

    async def _loop(self) -> None:
        interval = self.min_interval
        while self._waiters:
            self._kick.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=interval)
            if self._kick.is_set():
                interval = self.min_interval  # new work: look soon
                await asyncio.sleep(self.min_interval)
            ids = sorted({i for w in self._waiters for i in w.ids})
            if not ids:
                continue
            started = time.monotonic()
            try:
                statuses = await self.provider.poll(ids)
            except Exception as exc:  # transient: keep waiting, a little slower
                log.warning("polling %s failed: %s", self.provider.name, exc)
                interval = min(self.max_interval, interval * 2)
                continue
            finally:
                self.polls += 1
            changed = False
            for w in list(self._waiters):
                mine = {i: s for i, s in statuses.items() if i in w.ids}
                if mine != w.seen:
                    changed = True
                w.seen = mine
                if any(s.done for s in mine.values()) and not w.future.done():
                    w.future.set_result(mine)
            log.debug("polled %d task(s) in %.3fs", len(ids), time.monotonic() - started)
            interval = self.min_interval if changed else min(self.max_interval, interval * 1.5)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
