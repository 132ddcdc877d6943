"""Assemble and run the daemon: settings -> providers, store, engine, app, listener.

Everything real is built here (and only here), so the app, the engine and the tests can take
their collaborators as arguments. ``run_daemon`` is what ``kling-bridge serve`` calls; the
crash tests call it too, from a subprocess, with a durable fake provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import __version__
from .api.app import Services, create_app
from .api.discovery import pid_alive, read_discovery, remove_discovery, write_discovery
from .api.security import new_token
from .config import Paths, Settings
from .credentials import KlingCredential, describe, load_credential
from .jobs.engine import Engine
from .jobs.pipeline import Pipeline
from .jobs.store import JobStore
from .logs import add_secret, setup_logging
from .providers.base import Provider, ProviderError

log = logging.getLogger("kling_bridge.daemon")


class DaemonError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def build_providers(
    settings: Settings, paths: Paths, credential: KlingCredential
) -> dict[str, Provider]:
    """The draft provider always; Kling when a credential is configured."""
    from .providers.draft import DraftProvider

    providers: dict[str, Provider] = {"draft": DraftProvider(paths=paths)}
    if credential.configured:
        from .providers.kling.provider import build_kling_provider

        try:
            providers["kling"] = build_kling_provider(settings, credential, paths)
        except ProviderError as exc:
            if settings.provider == "kling":
                raise DaemonError(f"Kling cannot be used: {exc.message}", exc.hint) from exc
            log.warning("Kling provider not available: %s", exc.message)
    elif settings.provider == "kling":
        raise DaemonError(
            "the configured provider is kling, but no Kling credential is set",
            "run 'kling-bridge login', set KLING_API_KEY, or set provider = \"draft\"",
        )
    return providers


def build_pipeline(paths: Paths) -> Pipeline:
    from .jobs.media_pipeline import MediaPipeline

    pipeline: Pipeline = MediaPipeline(paths=paths)
    return pipeline


def load_presets(paths: Paths) -> Callable[[], list[dict[str, Any]]]:
    """The look menu, re-read on each call so a user's new preset file shows up at once."""
    from .media.presets import load_presets as load

    def menu() -> list[dict[str, Any]]:
        return load(paths.presets_dir).menu()

    return menu


@dataclass
class Running:
    """A started daemon (for in-process use: tests, ``restyle`` with no daemon running)."""

    services: Services
    runner: web.AppRunner
    url: str
    ready_seconds: float

    async def stop(self) -> None:
        await self.runner.cleanup()
        self.services.engine.store.close()
        for provider in self.services.engine.providers.values():
            with contextlib.suppress(Exception):
                await provider.aclose()


async def start_daemon(
    settings: Settings,
    paths: Paths,
    *,
    providers: Mapping[str, Provider] | None = None,
    pipeline: Pipeline | None = None,
    poll_intervals: Mapping[str, tuple[float, float]] | None = None,
    write_discovery_file: bool = True,
) -> Running:
    started = time.perf_counter()
    paths.ensure()
    credential = load_credential(paths)
    token = new_token()
    setup_logging(paths, settings.log_level, secrets=[*credential.secrets(), token])
    add_secret(token)
    _refuse_second_daemon(paths, settings)
    providers = dict(providers) if providers is not None else build_providers(
        settings, paths, credential
    )
    if settings.provider not in providers:
        raise DaemonError(
            f"the configured provider {settings.provider!r} is not available",
            f"available: {', '.join(sorted(providers))}",
        )
    store = JobStore(paths.database)
    intervals = {"draft": (0.2, 1.0), **(poll_intervals or {})}
    engine = Engine(
        store=store,
        providers=providers,
        pipeline=pipeline or build_pipeline(paths),
        settings=settings,
        paths=paths,
        poll_intervals=intervals,
    )
    presets: Callable[[], list[dict[str, Any]]] = lambda: []  # noqa: E731
    with contextlib.suppress(ImportError):
        presets = load_presets(paths)
    services = Services(engine=engine, settings=settings, paths=paths, token=token,
                        credentials=describe(credential), presets=presets)
    app = create_app(services)
    if settings.watch:  # [[watch]] folders live as long as the app (after the engine starts)
        from .watch.lifetime import attach as attach_watches

        attach_watches(app)
    # The access log costs ~10 % of a busy daemon's CPU: only when debugging.
    access = {"access_log_format": '%a "%r" %s %b %Tfs'} if settings.log_level == "DEBUG" else {
        "access_log": None}
    runner = web.AppRunner(app, **access)
    await runner.setup()
    host, port = settings.server.host, settings.server.port
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        store.close()
        if exc.errno == errno.EADDRINUSE:
            raise DaemonError(
                f"port {port} on {host} is already in use by another program",
                "set server.port in config.toml or KLING_BRIDGE_PORT (0 picks a free port)",
            ) from exc
        raise DaemonError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    services.port = int(runner.addresses[0][1]) if runner.addresses else port
    if write_discovery_file:
        write_discovery(paths.discovery_file, host=host, port=services.port, token=token,
                        version=__version__)
    ready = time.perf_counter() - started
    log.info("kling-bridge %s listening on %s:%d (provider %s), ready in %.3fs",
             __version__, host, services.port, settings.provider, ready)
    return Running(services, runner, f"http://{host}:{services.port}", ready)


def _refuse_second_daemon(paths: Paths, settings: Settings) -> None:
    data = read_discovery(paths.discovery_file)
    if not data:
        return
    pid = int(data.get("pid", 0) or 0)
    if pid and pid_alive(pid) and pid != os.getpid():
        raise DaemonError(
            f"a kling-bridge daemon is already running (pid {pid}, port {data.get('port')})",
            "use it (kling-bridge status), or stop it before starting another",
        )


async def run_daemon(settings: Settings, paths: Paths,
                     on_ready: Callable[[Running], None] | None = None, **kwargs: Any) -> None:
    """Serve until SIGTERM/SIGINT; leave no discovery file behind on a clean stop.
    ``on_ready`` hears when it listens (``serve`` prints the address and config folder)."""
    running = await start_daemon(settings, paths, **kwargs)
    if on_ready is not None:
        on_ready(running)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        remove_discovery(paths.discovery_file)
        await running.stop()
