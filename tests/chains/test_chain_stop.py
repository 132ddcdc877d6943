"""The chain driver stops when asked, even when something wakes it in the same instant.

It waits for a wake-up (a job changed state, a chain arrived) between its passes, and a stop
cancels that wait. On Python 3.11, ``asyncio.wait_for`` answered a cancel that came in the
same turn of the event loop as the wake-up by returning the wake-up instead: the driver went
on with its next pass and the stop waited for it forever. The daemon's stop then lasted until
its reaper ended the process by force (15 s), and ``test_chain_kill9.py`` hung about once in
40 runs (a link's job finished as its driver stopped). Here the two come together every time.
"""

from __future__ import annotations

import asyncio

import pytest

from kling_bridge.config import Paths
from kling_bridge.jobs.chains import Chains
from kling_bridge.waiting import wait_event
from tests.chains.driver import plans
from tests.chains.small import draft_engine

pytestmark = pytest.mark.asyncio


async def test_a_stop_in_the_instant_a_chain_arrives_ends_the_driver() -> None:
    engine = draft_engine(Paths.resolve().ensure())  # not started: the jobs stay queued
    chains = Chains(engine)
    try:
        await chains.start()
        await asyncio.sleep(0.1)  # its first pass is done: it waits for a wake-up
        done = await chains.submit(plans("generate_then_restyle", ""), kind="test",
                                   provider="draft", request={})
        assert done.chain_id is not None
        # submit's last act woke the driver; the stop's cancel comes in the same turn
        stopping = asyncio.create_task(chains.stop())
        finished, _ = await asyncio.wait({stopping}, timeout=10)
        assert stopping in finished, "the chain driver did not stop"
        assert chains.describe(done.chain_id)["state"] == "running"  # type: ignore[index]
    finally:
        engine.store.close()


async def test_a_cancel_wins_over_the_event_set_in_the_same_turn() -> None:
    event = asyncio.Event()
    waiter = asyncio.create_task(wait_event(event, 30))
    await asyncio.sleep(0.01)
    event.set()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_the_wait_answers_whether_the_event_came() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 30) is True
