"""The discovery file: how plugins, the CLI and the watch folder find the daemon.

``daemon.json`` in the config dir holds ``host``, ``port``, ``token``, ``pid``, ``version``
and ``started_at``. It is created 0600 from the first byte (never world-readable, even for
an instant) under a temp name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any


def write_discovery(path: Path, *, host: str, port: int, token: str, version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "host": host,
        "port": port,
        "token": token,
        "pid": os.getpid(),
        "version": version,
        "started_at": time.time(),
        "url": f"http://{'[' + host + ']' if ':' in host else host}:{port}/v1/",
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # in case a umask or ACL widened it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_discovery(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def remove_discovery(path: Path) -> None:
    """Remove the file only if it is ours (another daemon may have replaced it)."""
    data = read_discovery(path)
    if data and data.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
