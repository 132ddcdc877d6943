"""In-process fan-out of job changes to server-sent-event streams and other listeners.

Each subscriber gets its own bounded queue: a slow client (a frozen plugin) loses its oldest
events instead of growing memory or slowing the engine. Every event carries the whole job
(an immutable :class:`~.records.Job`), so a client that missed some can always catch up from
the next one. The bus carries records, not JSON: the API turns them into its JSON shape
(:mod:`kling_bridge.api.summary`), so publishing costs nothing when nobody renders it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .records import Job


@dataclass(frozen=True)
class BusEvent:
    id: int
    type: str
    job: Job


class EventBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[BusEvent | None]] = set()
        self._ids = itertools.count(1)
        self._queue_size = queue_size
        self._closed = False

    def publish(self, type_: str, job: Job) -> None:
        event = BusEvent(next(self._ids), type_, job)
        for q in list(self._subscribers):
            if q.full():
                q.get_nowait()
            q.put_nowait(event)

    async def subscribe(self) -> AsyncIterator[BusEvent]:
        q: asyncio.Queue[BusEvent | None] = asyncio.Queue(self._queue_size)
        self._subscribers.add(q)
        try:
            while not self._closed:
                event = await q.get()
                if event is None:
                    return
                yield event
        finally:
            self._subscribers.discard(q)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        self._closed = True
        for q in list(self._subscribers):
            if q.full():
                q.get_nowait()
            q.put_nowait(None)
