"""The discovery file: how plugins, the CLI and the watch folder find the daemon.

``daemon.json`` in the config dir holds ``host``, ``port``, ``token``, ``pid``, ``version``
and ``started_at``. It is created 0600 from the first byte (never world-readable, even for
an instant) under a temp name and renamed (:mod:`kling_bridge.atomic`), so a reader never
sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from ..atomic import write_text


def write_discovery(path: Path, *, host: str, port: int, token: str, version: str) -> None:
    data = {
        "host": host,
        "port": port,
        "token": token,
        "pid": os.getpid(),
        "version": version,
        "started_at": time.time(),
        "url": f"http://{'[' + host + ']' if ':' in host else host}:{port}/v1/",
    }
    write_text(path, json.dumps(data), private=True)


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
