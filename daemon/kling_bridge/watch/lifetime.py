"""The daemon's ``[[watch]]`` folders: started after the engine, stopped before it.

Attached to the aiohttp app as a ``cleanup_ctx`` (after the engine's own), so the folders
are watched exactly while the daemon runs. A folder that cannot be watched (unreadable, on
a drive that is gone, already watched by another process) is logged and skipped -- it must
never keep the daemon, and the plugins using it, from starting.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from ..api.state import SERVICES, Services
from .bridge import InProcessBridge
from .ledger import Ledger
from .service import WatchService
from .settings import WatchEntry

log = logging.getLogger("kling_bridge.watch")

WATCHES = web.AppKey("watches", list)


def ledger_path(services: Services) -> Path:
    return services.paths.data_dir / "watch.sqlite3"


def services_for(services: Services, entries: list[WatchEntry], ledger: Ledger,
                 ) -> list[WatchService]:
    seen: set[Path] = set()
    out = []
    for entry in entries:
        root = Path(entry.path).expanduser().resolve()
        if root in seen:
            continue
        seen.add(root)
        out.append(WatchService(
            root, InProcessBridge(services), ledger, defaults=entry.defaults(),
            stable_seconds=entry.stable_seconds, rescan_seconds=entry.rescan_seconds,
            polling=entry.polling))
    return out


def attach(app: web.Application, extra: list[WatchEntry] | None = None) -> None:
    """Watch the settings' ``[[watch]]`` folders (and ``extra`` ones) while ``app`` runs."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        services = app[SERVICES]
        entries = [*services.settings.watch, *(extra or [])]
        ledger = Ledger(ledger_path(services))
        started: list[WatchService] = []
        for watch in services_for(services, entries, ledger):
            try:
                await watch.start()
            except Exception as exc:
                log.error("cannot watch %s: %s", watch.root, exc)
                await watch.stop()
                continue
            started.append(watch)
        app[WATCHES] = started
        try:
            yield
        finally:
            for watch in started:
                await watch.stop()
            ledger.close()

    app.cleanup_ctx.append(lifetime)
