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
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from . import __version__, children
from .api.app import Services, create_app
from .api.discovery import read_discovery, remove_discovery, write_discovery
from .api.security import new_token
from .config import Paths, Settings
from .credentials import KlingCredential, describe, load_credential
from .home import HomeBusy, HomeLock, create_private_file, make_private, sweep_temp_files
from .jobs.engine import Engine
from .jobs.pipeline import Pipeline
from .jobs.store import JobStore
from .logs import add_secret, setup_logging, shutdown_logging
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

    providers: dict[str, Provider] = {
        "draft": DraftProvider(paths=paths, encoder_preset=settings.draft.encoder_preset)}
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
    lock: HomeLock | None = None
    discovery: Path | None = None  # the discovery file this daemon wrote, if any

    async def stop(self) -> None:
        """Stop listening, let sends in flight finish, close everything; then -- last --
        take down the discovery file and let go of the home."""
        try:
            await self.runner.cleanup()
            self.services.engine.store.close()
            for provider in self.services.engine.providers.values():
                with contextlib.suppress(Exception):
                    await provider.aclose()
        finally:
            self.release()

    def release(self) -> None:
        """Children killed, discovery file removed, lock dropped (idempotent; also the
        last act of a forced exit)."""
        children.kill_live()
        children.track_in(None)
        if self.discovery is not None:
            remove_discovery(self.discovery)
        if self.lock is not None:
            self.lock.release()


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
    lock = _own_home(paths)
    try:
        return await _start_owned(settings, paths, lock, started, providers=providers,
                                  pipeline=pipeline, poll_intervals=poll_intervals,
                                  write_discovery_file=write_discovery_file)
    except BaseException:
        children.track_in(None)
        lock.release()
        raise


def _own_home(paths: Paths) -> HomeLock:
    try:
        return HomeLock.acquire(paths)
    except HomeBusy as exc:
        data = read_discovery(paths.discovery_file) or {}
        where = f", port {data['port']}" if data.get("pid") == exc.pid and data.get("port") else ""
        raise DaemonError(
            f"a kling-bridge daemon is already running on this home (pid {exc.pid or '?'}"
            f"{where})",
            "use it (kling-bridge status), or stop it before starting another; "
            "KLING_BRIDGE_HOME picks another home",
        ) from None


async def _start_owned(
    settings: Settings,
    paths: Paths,
    lock: HomeLock,
    started: float,
    *,
    providers: Mapping[str, Provider] | None,
    pipeline: Pipeline | None,
    poll_intervals: Mapping[str, tuple[float, float]] | None,
    write_discovery_file: bool,
) -> Running:
    make_private(paths)
    create_private_file(paths.database)
    # Before any job resumes: children of a killed daemon, then the temp files they and it
    # left (nobody else writes here: we hold the lock).
    run_dir = paths.data_dir / "run"
    leftovers = children.reap_leftovers(run_dir)
    children.track_in(run_dir)
    swept = sweep_temp_files(paths)
    credential = load_credential(paths)
    token = new_token()
    setup_logging(paths, settings.log_level, secrets=[*credential.secrets(), token])
    add_secret(token)
    if leftovers or swept:
        log.info("cleaned up after the last run: %d child processes, %d temp files",
                 len(leftovers), len(swept))
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
                        credentials=describe(credential), presets=presets,
                        extra_hosts=_host_names(settings.server.host))
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
    url_host = f"[{host}]" if ":" in host else host
    return Running(services, runner, f"http://{url_host}:{services.port}", ready, lock=lock,
                   discovery=paths.discovery_file if write_discovery_file else None)


def _host_names(host: str) -> list[str]:
    """The configured loopback host as clients write it in ``Host`` (IPv6 in brackets)."""
    return [f"[{host}]" if ":" in host else host]


#: Seconds a stop may take after SIGTERM before the process ends regardless (a create in
#: flight gets 10 of them in ``Engine.stop``); and after a clean stop, for the runtime's
#: own shutdown (it waits for worker threads, which a stuck read could hold for ever).
STOP_GRACE_SECONDS = 15.0
EXIT_GRACE_SECONDS = 2.0


class _Reaper:
    """Ends the process at a deadline unless it has ended by itself (a daemon thread)."""

    def __init__(self, running: Running) -> None:
        self.running = running
        self._timer: threading.Timer | None = None

    def arm(self, seconds: float, why: str) -> None:
        self.cancel()
        self._timer = threading.Timer(seconds, self._fire, args=(why,))
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _fire(self, why: str) -> None:
        log.warning("%s: ending the process now", why)
        with contextlib.suppress(Exception):
            self.running.release()
        with contextlib.suppress(Exception):
            shutdown_logging()
        os._exit(EXIT_FORCED)


EXIT_FORCED = 70  # EX_SOFTWARE: the stop did not finish in time


async def run_daemon(settings: Settings, paths: Paths,
                     on_ready: Callable[[Running], None] | None = None, **kwargs: Any) -> None:
    """Serve until SIGTERM/SIGINT; then stop within ``STOP_GRACE_SECONDS`` whatever is
    stuck, the discovery file removed last and the home's lock released by the exit.
    ``on_ready`` hears when it listens (``serve`` prints the address and config folder)."""
    # Every file this process makes (its ffmpeg children's too) is 0600, folders 0700,
    # whatever umask the user's shell had: they hold paths, prompts and results.
    os.umask(os.umask(0o077) | 0o077)
    running = await start_daemon(settings, paths, **kwargs)
    if on_ready is not None:
        on_ready(running)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reaper = _Reaper(running)
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            reaper.arm(STOP_GRACE_SECONDS, "the stop took too long")
            stop.set()
        else:
            reaper.arm(0.0, "asked to stop again")

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await running.stop()
        log.info("stopped")
        # Worker threads stuck in a read would hold the interpreter's exit: not for long.
        reaper.arm(EXIT_GRACE_SECONDS, "worker threads are still busy after the stop")
