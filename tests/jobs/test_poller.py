"""One poll loop per provider: batches every task in flight, notices a finish promptly,
asks less often about old tasks, and survives a failing query."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kling_bridge.jobs.poller import Poller
from kling_bridge.providers.base import TaskPhase, TaskStatus, poll_delay


class Clock:
    """Tasks that finish at given monotonic times; records every query."""

    def __init__(self, ends: dict[str, float], fail_first: int = 0) -> None:
        self.ends = ends
        self.queries: list[tuple[float, tuple[str, ...]]] = []
        self.fail_first = fail_first
        self.name = "clock"

    async def poll(self, ids: Sequence[str]) -> dict[str, TaskStatus]:
        self.queries.append((time.monotonic(), tuple(ids)))
        if self.fail_first > 0:
            self.fail_first -= 1
            raise ConnectionError("flaky")
        now = time.monotonic()
        return {
            i: TaskStatus(
                i, None, TaskPhase.SUCCEEDED if now >= self.ends[i] else TaskPhase.PROCESSING
            )
            for i in ids
        }


@given(st.floats(0, 1e6), st.floats(0, 1e6))
def test_delay_grows_with_age_within_bounds(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    d_lo, d_hi = poll_delay(lo, minimum=3, maximum=30), poll_delay(hi, minimum=3, maximum=30)
    assert 3 <= d_lo <= d_hi <= 30


def test_delay_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        poll_delay(10, minimum=0, maximum=1)


async def test_waiters_share_one_batched_query_and_wake_promptly() -> None:
    start = time.monotonic()
    provider = Clock({"a": start + 0.5, "b": start + 1.5, "c": start + 30})
    poller = Poller(provider, 0.05, 1.0, fraction=0.02)  # type: ignore[arg-type]
    try:
        first, second = await asyncio.gather(
            poller.wait_any(["a", "c"], 10), poller.wait_any(["b"], 10)
        )
        assert first["a"].done and not first["c"].done
        assert second["b"].done
        lag = time.monotonic() - (start + 1.5)
        assert lag < 0.5, lag
        assert any(set(ids) == {"a", "b", "c"} for _, ids in provider.queries)
        assert len(provider.queries) < 1.5 / 0.05 + 5
    finally:
        await poller.stop()


async def test_old_tasks_are_asked_about_less_often() -> None:
    provider = Clock({"old": time.monotonic() + 3600})
    poller = Poller(provider, 0.01, 5.0, fraction=0.5)  # type: ignore[arg-type]
    poller._first_seen["old"] = time.monotonic() - 2.0  # submitted two seconds ago
    try:
        with pytest.raises(TimeoutError):
            await poller.wait_any(["old"], 1.5)
        gaps = [b[0] - a[0] for a, b in zip(provider.queries, provider.queries[1:], strict=False)]
        assert gaps and min(gaps) > 0.8  # ~half of a 2-3 s age, not the 0.01 s minimum
    finally:
        await poller.stop()


async def test_a_failing_query_is_retried_not_fatal() -> None:
    provider = Clock({"x": time.monotonic() + 0.2}, fail_first=2)
    poller = Poller(provider, 0.02, 0.2)  # type: ignore[arg-type]
    try:
        result = await poller.wait_any(["x"], 10)
        assert result["x"].done and len(provider.queries) >= 3
    finally:
        await poller.stop()
