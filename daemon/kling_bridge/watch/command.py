"""``kling-bridge watch [FOLDER]``: watch a folder in the foreground.

With a daemon running, the folder is worked through the daemon's HTTP API (like a plugin);
without one, this command *is* the daemon for as long as it runs -- the folder is watched
in-process, exactly as a ``[[watch]]`` folder of ``kling-bridge serve`` -- and plugins can
use it meanwhile. ``--once`` does what is in the folder now and exits (non-zero if anything
failed); ``--init`` only lays the folder out. To have the daemon watch a folder whenever it
runs, add it to config.toml instead::

    [[watch]]
    path = "/Users/me/Kling Watch"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ..cli_checks import number_in
from ..config import ConfigError, Paths, Settings, load_settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", nargs="?", type=Path,
                   help="the folder to watch (default: 'Kling Watch' in your home folder)")
    p.add_argument("--once", action="store_true",
                   help="do what is in the folder now, then exit (default: keep watching)")
    p.add_argument("--init", action="store_true",
                   help="only lay the folder out (subfolders and README.txt files), then exit "
                        "(default: lay it out and watch)")
    p.add_argument("--polling", action="store_true",
                   help="poll the folder instead of file events (default: events, polling on "
                        "network drives, which are detected)")
    p.add_argument("--stable", type=number_in("--stable", 0.05, 600, "s", float),
                   metavar="SECONDS",
                   help="seconds a dropped file must stay unchanged before it is taken, "
                        "0.05–600 (default: 3)")
    p.add_argument("--provider", choices=["draft", "kling"],
                   help="default provider for this folder (its kling-bridge.toml can say too)")


def default_folder() -> Path:
    home = os.environ.get("KLING_BRIDGE_HOME")
    return (Path(home).expanduser() / "watch") if home else Path.home() / "Kling Watch"


class WatchCommandError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def run(args: argparse.Namespace, paths: Paths) -> int:
    folder = (args.folder or default_folder()).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise WatchCommandError(f"{folder} is a file, not a folder", "give a folder to watch")
    try:
        settings = load_settings(paths)
    except ConfigError as exc:
        raise WatchCommandError(str(exc), "fix the file or the environment variable named") \
            from exc
    if args.init:
        from ..media.presets import load_presets
        from .layout import lay_out

        lay_out(folder, load_presets(paths.presets_dir).menu())
        print(f"laid out {folder}\n" + (folder / "README.txt").read_text())
        return 0
    from .ledger import Ledger

    ledger = Ledger(paths.data_dir / "watch.sqlite3")
    try:
        held = next((w for w in ledger.watchers() if w["folder"] == str(folder)), None)
    finally:
        ledger.close()
    if held is not None:
        who = "the daemon" if held["mode"] == "daemon" else "another 'kling-bridge watch'"
        raise WatchCommandError(f"{folder} is already watched by {who} (pid {held['pid']})",
                                "drop files into it; 'kling-bridge status' shows its counts")
    entry = _entry(args, folder)
    client = _running_daemon(paths)
    printer = _Printer(getattr(args, "json", False))
    if client is not None:
        return asyncio.run(_watch_over_http(client, entry, paths, args.once, printer))
    return asyncio.run(_watch_in_process(settings, entry, paths, args.once, printer))


def _entry(args: argparse.Namespace, folder: Path) -> Any:
    from .settings import WatchEntry

    values: dict[str, Any] = {"path": str(folder)}
    if args.polling:
        values["polling"] = True
    if args.stable is not None:
        values["stable_seconds"] = args.stable
    if args.provider:
        values["provider"] = args.provider
    return WatchEntry(**values)


def _running_daemon(paths: Paths) -> Any:
    from ..cli_submit import connect

    return connect(paths)


class _Printer:
    """One line per thing that happens (a JSON object per line with --json)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.failed = 0

    def __call__(self, what: str, text: str) -> None:
        if what == "failed":
            self.failed += 1
        if self.as_json:
            import json

            print(json.dumps({"event": what, "text": text, "at": time.time()}), flush=True)
        else:
            print(f"{time.strftime('%H:%M:%S')}  {what:<12} {text}", flush=True)


async def _until_stopped(service: Any, once: bool) -> None:
    if once:
        await service.wait_idle(timeout=24 * 3600, settle=0.5)
        return
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _intro(service: Any, how: str) -> None:
    print(f"watching {service.root} ({how}; {service.observer_kind}); drop files into "
          f"restyle/<look>/ or generate/ -- Ctrl-C stops", file=sys.stderr, flush=True)


async def _watch_over_http(client: Any, entry: Any, paths: Paths, once: bool,
                           printer: _Printer) -> int:
    from .bridge import HttpBridge
    from .ledger import Ledger
    from .service import WatchService

    ledger = Ledger(paths.data_dir / "watch.sqlite3")
    service = WatchService(Path(entry.path), HttpBridge(client), ledger,
                           defaults=entry.defaults(), stable_seconds=entry.stable_seconds,
                           rescan_seconds=entry.rescan_seconds, polling=entry.polling,
                           on_event=printer)
    try:
        await service.start()
        _intro(service, f"through the daemon at {client.url}")
        await _until_stopped(service, once)
    finally:
        await service.stop()
        ledger.close()
    return 1 if printer.failed else 0


async def _watch_in_process(settings: Settings, entry: Any, paths: Paths, once: bool,
                            printer: _Printer) -> int:
    from ..daemon import DaemonError, start_daemon
    from .lifetime import WATCHES

    settings = settings.model_copy(deep=True)
    settings.watch = [entry]
    if once:
        settings.server.port = 0
    try:
        running = await start_daemon(settings, paths, write_discovery_file=not once)
    except DaemonError as exc:
        raise WatchCommandError(exc.message, exc.hint) from exc
    from ..api.discovery import remove_discovery

    try:
        services = running.runner.app[WATCHES]
        if not services:
            raise WatchCommandError(f"cannot watch {entry.path}",
                                    "the log (kling-bridge doctor names it) says why")
        service = services[0]
        service.on_event = printer
        _intro(service, "no daemon was running: this command is the daemon until it stops")
        await _until_stopped(service, once)
    finally:
        if not once:
            remove_discovery(paths.discovery_file)
        await running.stop()
    return 1 if printer.failed else 0
