"""When to ask Kling again about a task (pure).

Kling's tasks take from ~30 s (3 s turbo) to an hour (4K edits). A fixed interval is either
chatty on long tasks or slow to notice short ones. The delay grows with the task's age --
a fixed share of it -- inside ``[minimum, maximum]``: a result is noticed at most
``fraction`` of its age late (2 % by default) once past the minimum, and an hour-long edit
is asked about every ``maximum`` seconds, not every few.
"""

from __future__ import annotations


def next_poll_delay(
    age_seconds: float,
    *,
    minimum: float = 3.0,
    maximum: float = 30.0,
    fraction: float = 0.02,
) -> float:
    """Seconds to wait before the next query of a task submitted ``age_seconds`` ago."""
    if minimum <= 0 or maximum < minimum:
        raise ValueError("need 0 < minimum <= maximum")
    return min(maximum, max(minimum, fraction * max(0.0, age_seconds)))
