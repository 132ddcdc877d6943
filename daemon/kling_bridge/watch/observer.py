"""The watchdog edge: file-system events become "look at this path again" marks.

Events carry no decisions. Each one only adds its path(s) to a set that the service drains
on its next tick, so an event storm (a 40 GB copy raises thousands of modify events; a
folder of 500 clips raises thousands more) costs a set insertion per event and one look per
path per tick. Nothing depends on every event arriving: the service rescans periodically,
which catches what an observer drops (Windows' buffer overflows, network shares).

Which observer: the native one (inotify, FSEvents, ReadDirectoryChangesW), or
:class:`~watchdog.observers.polling.PollingObserver` for folders on SMB/NFS (detected, see
:mod:`.mounts`) or when configured -- native events do not see what another machine writes
to a share. No watchdog pattern matching is used (watchdog 7 matches ``"*.mov"`` against
the whole path, so it matches nothing; classification is :mod:`.items`' job).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

log = logging.getLogger("kling_bridge.watch")


class _Marks(FileSystemEventHandler):
    def __init__(self, sink: Callable[[Iterable[str]], None]) -> None:
        self._sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reads (ours included: hashing, probing) change nothing
        paths = [event.src_path]
        dest = getattr(event, "dest_path", "")
        if dest:
            paths.append(dest)
        self._sink(p.decode() if isinstance(p, bytes) else p for p in paths)


class Marks:
    """Paths events have pointed at since the last :meth:`drain` (thread-safe)."""

    def __init__(self, on_mark: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._paths: set[str] = set()
        self._on_mark = on_mark
        self.events = 0

    def add(self, paths: Iterable[str]) -> None:
        with self._lock:
            before = len(self._paths)
            for p in paths:
                self._paths.add(p)
                self.events += 1
            first = before == 0 and self._paths
        if first and self._on_mark is not None:
            self._on_mark()

    def drain(self) -> set[str]:
        with self._lock:
            paths, self._paths = self._paths, set()
        return paths


def start_observer(folders: Iterable[Path], marks: Marks, *, polling: bool,
                   poll_interval: float = 1.0) -> tuple[BaseObserver, str]:
    """Start watching ``folders`` recursively; returns the observer and its kind's name.

    A native observer that cannot start (Linux's inotify watch limit reached, say) falls back
    to polling, with a warning saying how to raise the limit.
    """
    handler = _Marks(marks.add)
    if not polling:
        observer: BaseObserver = Observer()
        try:
            for folder in folders:
                observer.schedule(handler, str(folder), recursive=True)
            observer.start()
            return observer, type(observer).__name__
        except OSError as exc:
            log.warning("native file events unavailable (%s); polling instead. On Linux, "
                        "raise fs.inotify.max_user_watches to use events.", exc)
            observer.stop()
    observer = PollingObserver(timeout=poll_interval)
    for folder in folders:
        observer.schedule(handler, str(folder), recursive=True)
    observer.start()
    return observer, "PollingObserver"


def stop_observer(observer: BaseObserver) -> None:
    observer.stop()
    observer.join(timeout=10)
