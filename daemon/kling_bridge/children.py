"""Child processes (ffmpeg, ffprobe) that end with the daemon, and leftovers cleaned at start.

A daemon killed with ``kill -9`` used to leave its ffmpeg children running: they finished
minutes later and wrote their output beside the restarted daemon's redo of the same job,
and slowed the restart from about one second to five to nine. Two measures, so that no
child outlives the process that started it:

* **Linux**: each child asks the kernel, between fork and exec, for ``SIGKILL`` when its
  parent dies (``prctl(PR_SET_PDEATHSIG)``; the call is resolved once, before any fork, so
  the child only calls it). The kernel then ends the child whatever ends the parent.
  The "parent" is the *thread* that forked: our children are started from the event loop's
  thread or from the worker pool's threads, which live as long as the daemon.
* **Every platform** (macOS has no death signal): each running child is recorded as a
  small file ``<pid>.child`` in the home's ``run/`` folder while it runs. A daemon starting
  on that home (it holds the home's lock, so no other daemon's children are there) kills
  every recorded process that still runs under the recorded name, then removes the records.
  On macOS that is what ends children of a killed daemon: at the next start, before any
  job resumes. A clean stop kills the children it still has at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1


def _resolve_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _resolve_prctl()
_lock = threading.Lock()
_run_dir: Path | None = None
_live: dict[int, str] = {}


#: Niceness of background work (renders, conforms): the API, and the editor's own
#: application on the same machine, get the CPU first; the renders take what is left.
BACKGROUND_NICE = 10


def _prepare_child(parent: int, nice: int) -> None:  # pragma: no cover - in the forked child
    """Between fork and exec: SIGKILL me when my parent goes (go now if it already has);
    lower my priority for background work."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
    if nice:
        os.nice(nice)


def spawn_options(nice: int = 0) -> dict[str, Any]:
    """Extra keyword arguments for ``subprocess.Popen``/``asyncio.create_subprocess_exec``."""
    if _PRCTL is None and not nice:
        return {}
    return {"preexec_fn": functools.partial(_prepare_child, os.getpid(), nice)}


def dies_with_parent() -> bool:
    """Whether the OS itself ends our children with us (Linux), or only the next start."""
    return _PRCTL is not None


def track_in(run_dir: Path | None) -> None:
    """Record children under ``run_dir`` from now on (the daemon, holding its home's lock)."""
    global _run_dir
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    with _lock:
        _run_dir = run_dir


def _record(pid: int, name: str) -> None:
    """Only while a daemon tracks (``track_in``): its stop kills what it recorded."""
    with _lock:
        folder = _run_dir
        if folder is not None:
            _live[pid] = name
    if folder is not None:
        with contextlib.suppress(OSError):
            fd = os.open(folder / f"{pid}.child", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, name.encode())
            os.close(fd)


def _forget(pid: int) -> None:
    with _lock:
        _live.pop(pid, None)
        folder = _run_dir
    if folder is not None:
        with contextlib.suppress(OSError):
            (folder / f"{pid}.child").unlink()


def _name(args: Sequence[str]) -> str:
    return os.path.basename(str(args[0]))[:15]  # what the OS reports as the command name


@contextlib.contextmanager
def child(args: Sequence[str], *, nice: int = 0,
          **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    """``Popen(args)`` that dies with us, recorded while it runs, killed if the block fails."""
    proc: subprocess.Popen[bytes] = subprocess.Popen(list(args), **spawn_options(nice),
                                                     **kwargs)
    _record(proc.pid, _name(args))
    try:
        yield proc
    except BaseException:
        with contextlib.suppress(OSError):
            proc.kill()
        raise
    finally:
        with contextlib.suppress(Exception):
            proc.wait(timeout=30)
        _forget(proc.pid)


@contextlib.asynccontextmanager
async def achild(args: Sequence[str], *, nice: int = 0,
                 **kwargs: Any) -> AsyncIterator[asyncio.subprocess.Process]:
    """Async twin of :func:`child` (cancelling the awaiting task kills the process)."""
    options: dict[str, Any] = {**spawn_options(nice), **kwargs}
    proc = await asyncio.create_subprocess_exec(*args, **options)
    _record(proc.pid, _name(args))
    try:
        yield proc
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        raise
    finally:
        _forget(proc.pid)


def kill_live() -> int:
    """SIGKILL every child still running (a stopping daemon); returns how many."""
    with _lock:
        pids = list(_live)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def command_name(pid: int) -> str | None:
    """The running process's command name, or None if there is no such process."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None  # Linux, and the process is gone
    except OSError:
        return None
    try:  # macOS (no /proc)
        out = subprocess.run(["ps", "-o", "comm=", "-p", str(pid)], capture_output=True,
                             text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return os.path.basename(out)[:15] or None


def reap_leftovers(run_dir: Path, wait: float = 3.0) -> list[int]:
    """Kill the children a dead daemon recorded under ``run_dir``; remove every record.

    A pid is only killed if the process there still runs the recorded command (a pid the
    OS has since given to another program is left alone).
    """
    killed: list[int] = []
    if not run_dir.is_dir():
        return killed
    for record in run_dir.glob("*.child"):
        try:
            pid = int(record.stem)
            name = record.read_text(errors="replace").strip()
        except (ValueError, OSError):
            pid, name = 0, ""
        if pid > 0 and pid != os.getpid() and name and command_name(pid) == name:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        with contextlib.suppress(OSError):
            record.unlink()
    deadline = time.monotonic() + wait
    for pid in killed:
        while command_name(pid) is not None and time.monotonic() < deadline:
            _reap_if_ours(pid)
            time.sleep(0.01)
    return killed


def _reap_if_ours(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
