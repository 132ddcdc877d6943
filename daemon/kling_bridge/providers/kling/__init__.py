"""Kling: both API standards behind the Provider port.

Public surface: :class:`KlingProvider`, :func:`build_kling_provider`,
:func:`next_poll_delay`, :class:`KlingClient`. The rest (builders, parsers, rules, error
table, pricing) are pure modules used by those and by tests.
"""

from .client import KlingClient
from .polling import next_poll_delay
from .provider import KlingProvider, build_kling_provider

__all__ = ["KlingClient", "KlingProvider", "build_kling_provider", "next_poll_delay"]
