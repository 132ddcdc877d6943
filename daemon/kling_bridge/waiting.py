"""Waiting for an asyncio event with a time limit, in loops that a stop cancels.

``asyncio.wait_for(event.wait(), seconds)`` loses a cancellation on Python 3.11: when the
event is set in the same turn of the event loop as the cancel arrives, it returns the
event's answer instead of raising ``CancelledError``. A loop that waits for its wake-up
that way and relies on the cancel to end it then runs on, and whatever awaits it -- the
daemon's stop -- waits until something ends the process
(``tests/chains/test_chain_stop.py``). ``asyncio.timeout`` counts cancellations and never
loses one, so every such wait goes through here.
"""

from __future__ import annotations

import asyncio

__all__ = ["wait_event"]


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Whether ``event`` was set within ``seconds`` (False when the time ran out). A cancel
    always ends the wait with ``CancelledError``, even one that comes with the event."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
