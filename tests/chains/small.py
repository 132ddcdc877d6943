"""The draft provider as the daemon has it, rendering small, for the tests of chains."""

from __future__ import annotations

from typing import Any

import pytest

from kling_bridge import daemon
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


def daemons_render_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Daemons this process starts (the command line's in-process one) build their
    providers and pipeline as usual, then the draft renders small (:func:`small_drafts`)
    and the pipeline's encoders are turned down (as everywhere in the tests)."""
    from tests.providers.kling_engine import fast_pipeline

    build = daemon.build_providers

    def build_small(settings: Any, paths: Paths, credential: Any) -> dict[str, Any]:
        providers = build(settings, paths, credential)
        providers["draft"] = small_drafts(paths)
        return providers

    monkeypatch.setattr(daemon, "build_providers", build_small)
    monkeypatch.setattr(daemon, "build_pipeline", fast_pipeline)
