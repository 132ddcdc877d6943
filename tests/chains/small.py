"""The draft provider as the daemon has it, rendering small, for the tests of chains."""

from __future__ import annotations

from kling_bridge.config import Paths
from kling_bridge.providers.draft import DraftProvider
from kling_bridge.specs import InputLimits


def small_drafts(paths: Paths) -> DraftProvider:
    """These tests check the chains (links, looks, lengths, frames, placement), not sizes:
    Kling's limits except the smallest side (700 would blow small clips up before a look's
    filters run on them), drafts 180 pixels high whatever resolution is asked, the fastest
    encoder."""
    provider = DraftProvider(paths=paths, encoder_preset="ultrafast", short_side=180)
    provider.limits = InputLimits(side_min=100)
    return provider
