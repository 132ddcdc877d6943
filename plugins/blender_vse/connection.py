"""Finding the daemon, and starting it when none runs. Standard library only; no bpy.

The daemon announces itself in its discovery file (the shipped ``client`` reads it). When
there is none, or it does not answer, the installed ``kling-bridge serve`` is started --
from the path set in the add-on's preferences, else the one on PATH, else the usual install
places -- and waited for. When it cannot be found the error says exactly what to run.
Runs on the worker thread: starting a daemon takes a second or two and must not freeze
Blender.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from .client import BridgeClient, BridgeError, discovery_path, read_discovery

HEALTH_TIMEOUT = 3.0
START_WAIT = 60.0

_lock = threading.Lock()
_started = []  # the daemons this Blender started (Popen objects)


def candidates(configured=""):
    """Where ``kling-bridge`` may be, best first."""
    found = []
    if configured:
        found.append(os.path.abspath(os.path.expanduser(configured)))
    on_path = shutil.which("kling-bridge")
    if on_path:
        found.append(on_path)
    home = os.path.expanduser("~")
    exe = "kling-bridge.exe" if sys.platform == "win32" else "kling-bridge"
    for folder in (os.path.join(home, ".local", "bin"),
                   os.path.join(home, ".local", "share", "kling-bridge", "venv", "bin"),
                   os.path.join(home, "Library", "Application Support", "kling-bridge", "venv",
                                "bin"),
                   os.path.join(os.environ.get("LOCALAPPDATA", home), "kling-bridge", "venv",
                                "Scripts"),
                   "/usr/local/bin", "/opt/homebrew/bin"):
        found.append(os.path.join(folder, exe))
    seen = []
    for path in found:
        if path not in seen:
            seen.append(path)
    return seen


def find_executable(configured=""):
    for path in candidates(configured):
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def connect(timeout=30.0):
    """A client of the running daemon (it answered its health check), or BridgeError."""
    client = BridgeClient.discover(timeout=timeout)
    saved = client.timeout
    client.timeout = HEALTH_TIMEOUT
    try:
        client.health()
    finally:
        client.timeout = saved
    return client


def connect_or_start(configured="", auto_start=True, timeout=30.0, wait=START_WAIT):
    """The running daemon, or one started now (``kling-bridge serve``); BridgeError says how
    to start it by hand when that is not possible."""
    try:
        return connect(timeout)
    except BridgeError as exc:
        if exc.code not in ("not_running", "unreachable"):
            raise
        first = exc
    if not auto_start:
        raise BridgeError(first.code, first.message,
                          "start it with 'kling-bridge serve' in a terminal, or turn on "
                          "'Start the daemon' in the add-on's preferences")
    exe = find_executable(configured)
    if exe is None:
        raise BridgeError(
            "not_installed",
            "the kling-bridge daemon is not running and the 'kling-bridge' command was not "
            "found (looked in: %s)" % ", ".join(candidates(configured)[:3]),
            "install kling-bridge and run 'kling-bridge serve' in a terminal, or set the "
            "command's full path in Preferences > Add-ons > Kling Bridge")
    with _lock:
        try:
            return connect(timeout)  # another thread may have started it meanwhile
        except BridgeError:
            pass
        start(exe)
        deadline = time.time() + wait
        last = first
        while time.time() < deadline:
            proc = _started[-1]
            if proc.poll() is not None:
                raise BridgeError("start_failed", "'%s serve' stopped at once (exit %s)"
                                  % (exe, proc.returncode),
                                  "run 'kling-bridge doctor' in a terminal to see why; the "
                                  "daemon's output is in %s" % log_path())
            try:
                return connect(timeout)
            except BridgeError as exc:
                last = exc
            time.sleep(0.2)
        raise BridgeError("start_timeout", "started '%s serve' but it did not answer within "
                          "%ds (%s)" % (exe, wait, last.message),
                          "its output is in %s" % log_path())


def log_path():
    return os.path.join(tempfile.gettempdir(), "kling-bridge-blender-serve.log")


def start(exe):
    """Start the daemon detached from Blender (it outlives it: jobs keep running)."""
    log = open(log_path(), "ab")  # noqa: SIM115 (handed to the child, closed below)
    kwargs = {"stdin": subprocess.DEVNULL, "stdout": log, "stderr": subprocess.STDOUT,
              "close_fds": True}
    if sys.platform == "win32":
        kwargs["creationflags"] = 0x00000008 | 0x00000200  # DETACHED | NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    try:
        proc = subprocess.Popen([exe, "serve"], **kwargs)
    finally:
        log.close()
    _started.append(proc)
    return proc


def started_pids():
    return [p.pid for p in _started]


def describe():
    """One line for the panel: where the discovery file is and what it says."""
    data = read_discovery()
    if not data:
        return "no daemon announced in %s" % discovery_path()
    return "daemon %s on port %s (pid %s)" % (data.get("version", "?"), data.get("port"),
                                             data.get("pid"))
