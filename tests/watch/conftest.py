"""A real engine, a real watchdog observer, a real folder: the watch service under test.

The provider is the durable fake (``tests/fakes``: it stands for Kling's servers) with the
pass-through pipeline for tests about the folder's behaviour, or the real draft provider and
media pipeline (ffmpeg) where the results themselves are checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kling_bridge.api.security import new_token
from kling_bridge.api.state import Services
from kling_bridge.config import Paths, Settings
from kling_bridge.credentials import KlingCredential, describe
from kling_bridge.jobs.engine import Engine
from kling_bridge.jobs.store import JobStore
from kling_bridge.watch.bridge import InProcessBridge
from kling_bridge.watch.ledger import Ledger
from kling_bridge.watch.service import WatchService
from kling_bridge.watch.settings import FolderSettings
from tests.fakes.pipeline import PassthroughPipeline
from tests.fakes.provider import FakeProvider
from tests.jobs.conftest import fast_settings

PRESETS = [
    {"id": "film-noir", "name": "Film noir", "category": "style", "description": "B&W"},
    {"id": "watercolor", "name": "Watercolor", "category": "style", "description": "paint"},
]


@dataclass
class Env:
    root: Path
    paths: Paths
    settings: Settings
    engine: Engine
    services: Services
    ledger: Ledger
    provider: Any
    watch: WatchService | None = None
    events: list[tuple[str, str]] = field(default_factory=list)

    async def start_watch(self, **kw: Any) -> WatchService:
        kw.setdefault("stable_seconds", 0.3)
        kw.setdefault("rescan_seconds", 2.0)
        kw.setdefault("poll_seconds", 0.2)
        self.watch = WatchService(self.root, InProcessBridge(self.services), self.ledger,
                                  on_event=lambda what, text: self.events.append((what, text)),
                                  **kw)
        await self.watch.start()
        return self.watch

    async def stop_watch(self) -> None:
        if self.watch is not None:
            await self.watch.stop()
            self.watch = None

    def files(self, folder: str) -> list[str]:
        base = self.root / folder
        return sorted(p.relative_to(base).as_posix() for p in base.rglob("*")
                      if p.is_file() and p.name != "README.txt" and not p.name.startswith("."))

    def batches(self) -> list[str]:
        return [r[0] for r in self.engine.store.read("SELECT id FROM batches ORDER BY id")]


async def eventually(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


@pytest.fixture
async def make_env(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[Env] = []

    async def make(provider: str = "fake", delay: float = 0.0, paid: bool = False,
                   concurrency: int = 16) -> Env:
        paths = Paths.resolve().ensure()
        settings = fast_settings()
        store = JobStore(paths.database)
        if provider == "fake":
            prov: Any = FakeProvider(tmp_path / "provider", delay=delay, paid=paid)
            pipeline: Any = PassthroughPipeline()
            presets: Callable[[], list[dict[str, str]]] = lambda: PRESETS  # noqa: E731
            intervals = {"fake": (0.01, 0.05)}
        else:
            from kling_bridge.daemon import load_presets
            from kling_bridge.providers.draft import DraftProvider
            from kling_bridge.specs import InputLimits
            from tests.providers.kling_engine import fast_pipeline

            # Real renders, but small ones: these tests check where results land and what
            # the timelines say, not pixels (small fitting limits, fast encoders).
            prov = DraftProvider(paths=paths, encoder_preset="ultrafast", short_side=180)
            prov.limits = InputLimits(side_min=100, video_min_seconds=0.4)
            pipeline = fast_pipeline(paths)
            presets = load_presets(paths)
            intervals = {"draft": (0.05, 0.2)}
        settings.provider = provider  # type: ignore[assignment]
        settings.queue.concurrency[provider] = concurrency
        engine = Engine(store=store, providers={provider: prov}, pipeline=pipeline,
                        settings=settings, paths=paths, poll_intervals=intervals)
        services = Services(engine=engine, settings=settings, paths=paths, token=new_token(),
                            credentials=describe(KlingCredential()), presets=presets)
        await engine.start()
        env = Env(tmp_path / "watch folder", paths, settings, engine, services,
                  Ledger(paths.data_dir / "watch.sqlite3"), prov)
        made.append(env)
        return env

    yield make
    for env in made:
        await env.stop_watch()
        await env.engine.stop()
        env.engine.store.close()
        env.ledger.close()


def folder_settings(**kw: Any) -> FolderSettings:
    return FolderSettings(**kw)
