"""Stop the running daemon (``python -m kling_bridge.installer.stopper``).

Windows has no service manager in our recipe (a Startup-folder entry starts the daemon), so
reinstalling or uninstalling there stops the daemon itself: the pid comes from the discovery
file the daemon writes, and only a live process that wrote it is stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from ..api.discovery import pid_alive, read_discovery
from ..config import Paths


def stop_daemon(paths: Paths, wait_seconds: float = 10.0) -> str:
    data = read_discovery(paths.discovery_file) or {}
    pid = int(data.get("pid", 0) or 0)
    if not pid or pid == os.getpid() or not pid_alive(pid):
        return "no kling-bridge daemon is running"
    os.kill(pid, signal.SIGTERM)  # TerminateProcess on Windows
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    if pid_alive(pid):
        return f"the daemon (pid {pid}) did not stop within {wait_seconds:g} s"
    with contextlib.suppress(OSError):  # a terminated process leaves its file behind
        if (read_discovery(paths.discovery_file) or {}).get("pid") == pid:
            paths.discovery_file.unlink()
    return f"stopped the kling-bridge daemon (pid {pid})"


def main() -> int:
    print(stop_daemon(Paths.resolve()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
