"""A daemon inside the CLI's own process, for ``restyle``/``generate`` with none running.

It runs on a thread with its own event loop, on a free loopback port, and writes no
discovery file (nobody else should find a daemon that leaves when the command ends). The
CLI then talks to it over HTTP exactly as it would to a real one: one code path.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

from .client import BridgeClient
from .config import Paths, Settings
from .daemon import DaemonError, Running, start_daemon


class InProcessDaemon:
    def __init__(self, settings: Settings, paths: Paths, **kwargs: Any) -> None:
        settings = settings.model_copy(deep=True)
        settings.server.port = 0
        self.settings = settings
        self.paths = paths
        self.kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kb-inprocess",
                                        daemon=True)
        self._running: Running | None = None

    def __enter__(self) -> BridgeClient:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(
            start_daemon(self.settings, self.paths, write_discovery_file=False, **self.kwargs),
            self._loop,
        )
        try:
            self._running = fut.result(timeout=120)
        except DaemonError:
            self._shutdown()
            raise
        return BridgeClient(self._running.url, self._running.services.token)

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._running is not None:
            asyncio.run_coroutine_threadsafe(self._running.stop(), self._loop).result(timeout=60)
        self._shutdown()

    def _shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
