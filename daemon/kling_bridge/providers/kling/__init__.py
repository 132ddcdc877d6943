"""Kling: both API standards behind the Provider port.

Public surface: :class:`KlingProvider`, :func:`build_kling_provider`, :class:`KlingClient`
(when to poll is the port's :func:`kling_bridge.providers.base.poll_delay`). The rest
(builders, parsers, rules, error table, pricing) are pure modules used by those and by tests.
"""

from .client import KlingClient
from .provider import KlingProvider, build_kling_provider

__all__ = ["KlingClient", "KlingProvider", "build_kling_provider"]
