"""The draft provider as the daemon has it, rendering small, for the tests of chains."""

from __future__ import annotations

from typing import Any

import pytest

from kling_bridge import daemon
from kling_bridge.api.security import new_token
from kling_bridge.api.state import Services
from kling_bridge.config import Paths
from kling_bridge.credentials import KlingCredential, describe
from kling_bridge.jobs.engine import Engine
from kling_bridge.jobs.store import JobStore
from kling_bridge.media.presets import load_presets
from kling_bridge.providers.draft import DraftProvider
from kling_bridge.specs import InputLimits
from tests.jobs.conftest import fast_settings
from tests.providers.kling_engine import fast_pipeline

#: How often the tests' daemons ask the draft provider about its tasks (a user's: 0.2-1 s).
DRAFT_POLLS = {"draft": (0.05, 0.2)}


def small_drafts(paths: Paths) -> DraftProvider:
    """These tests check the chains (links, looks, lengths, frames, placement), not sizes:
    Kling's limits except the smallest side (700 would blow small clips up before a look's
    filters run on them), drafts 180 pixels high whatever resolution is asked, the fastest
    encoder."""
    provider = DraftProvider(paths=paths, encoder_preset="ultrafast", short_side=180)
    provider.limits = InputLimits(side_min=100)
    return provider


def draft_engine(paths: Paths) -> Engine:
    """The daemon's engine over :func:`small_drafts` (not started), with the tests' fast
    settings, pipeline and polls: what the chain, watch-chain and kill -9 tests run on."""
    settings = fast_settings()
    settings.provider = "draft"
    return Engine(store=JobStore(paths.database), providers={"draft": small_drafts(paths)},
                  pipeline=fast_pipeline(paths), settings=settings, paths=paths,
                  poll_intervals=DRAFT_POLLS)


def draft_services(paths: Paths) -> Services:
    """The API's services around :func:`draft_engine`, no Kling credential."""
    engine = draft_engine(paths)
    return Services(engine=engine, settings=engine.settings, paths=paths, token=new_token(),
                    credentials=describe(KlingCredential()),
                    presets=lambda: load_presets(paths.presets_dir).menu())


def daemons_render_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Daemons this process starts (the command line's in-process one) build their
    providers and pipeline as usual, then the draft renders small (:func:`small_drafts`)
    and the pipeline's encoders are turned down (as everywhere in the tests)."""
    build = daemon.build_providers

    def build_small(settings: Any, paths: Paths, credential: Any) -> dict[str, Any]:
        providers = build(settings, paths, credential)
        providers["draft"] = small_drafts(paths)
        return providers

    monkeypatch.setattr(daemon, "build_providers", build_small)
    monkeypatch.setattr(daemon, "build_pipeline", fast_pipeline)
