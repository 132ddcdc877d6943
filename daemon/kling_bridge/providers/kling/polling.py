"""When to ask Kling again about a task: the port's age-proportional policy (see
:func:`kling_bridge.providers.base.poll_delay`), under the name the Kling tests use."""

from __future__ import annotations

from ..base import poll_delay as next_poll_delay

__all__ = ["next_poll_delay"]
