"""A daemon in a subprocess, as users run it, and a raw HTTP client for hostile requests.

``serve()`` starts ``kling-bridge serve`` (the real daemon: draft provider, ffmpeg
pipeline) or, with ``fake=True``, ``tests.fakes.daemon`` (the real daemon with the durable
fake provider) on its own home and a free port, and waits until ``/v1/health`` answers.
``Served.call`` speaks HTTP through ``http.client`` so a test can send what no polite
client would: bytes that are not JSON, any header, any method.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kling_bridge.config import Paths

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "kling-bridge"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, str]:
        data = self.json
        assert isinstance(data, dict) and "error" in data, self.body[:300]
        return dict(data["error"])


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    home: Path
    port: int
    token: str
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def paths(self) -> Paths:
        return Paths.resolve({"KLING_BRIDGE_HOME": str(self.home)})

    @property
    def pid(self) -> int:
        return self.proc.pid

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Host": f"127.0.0.1:{self.port}", "Authorization": f"Bearer {self.token}",
                **extra}

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None, timeout: float = 60) -> Answer:
        """One request; ``body`` is sent as JSON, ``raw`` as given. Times the answer."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        sent = self.headers() if headers is None else headers
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None and not any(k.lower() == "content-type" for k in sent):
            sent = {**sent, "Content-Type": "application/json"}
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            payload = resp.read()
        finally:
            conn.close()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload,
                      time.perf_counter() - t0)

    def status_file(self) -> dict[str, int]:
        """VmRSS / VmHWM (peak) of the daemon, in kB (Linux)."""
        out: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "Threads"):
                    out[key] = int(value.split()[0])
        return out

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KLING_", "PYTEST_"))}
    env.update({"KLING_BRIDGE_HOME": str(home), "PYTHONPATH": str(ROOT),
                "KLING_BRIDGE_PORT": "0"})
    env.update(extra)
    return env


def spawn(home: Path, *, fake: bool = False, delay: float = 0.2, env: dict[str, str] | None = None,
          args: tuple[str, ...] = (), cwd: Path = ROOT,
          umask: int | None = None) -> subprocess.Popen[bytes]:
    home.mkdir(parents=True, exist_ok=True)
    if fake:
        cmd = [sys.executable, "-m", "tests.fakes.daemon", str(home / "provider"),
               "--delay", str(delay), *args]
    else:
        cmd = [str(BIN), "serve", *args]
    return subprocess.Popen(cmd, cwd=cwd, env=env or env_for(home), umask=-1 if umask is None
                            else umask, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_ready(proc: subprocess.Popen[bytes], home: Path, timeout: float = 60) -> Served:
    """Until the discovery file names this process and /v1/health answers."""
    paths = Paths.resolve({"KLING_BRIDGE_HOME": str(home)})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise AssertionError(f"daemon exited with {proc.returncode}: {err[-2000:]}")
        try:
            info = json.loads(paths.discovery_file.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
            continue
        if info.get("pid") != proc.pid:
            time.sleep(0.05)
            continue
        served = Served(proc, home, int(info["port"]), str(info["token"]), paths.log_file)
        with contextlib.suppress(OSError):
            if served.call("GET", "/v1/health", timeout=5).status == 200:
                return served
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("daemon did not come up")


def serve(home: Path, **kwargs: Any) -> Served:
    return wait_ready(spawn(home, **kwargs), home)


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append(int(entry.name))
    return out


def command_of(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                .decode(errors="replace"))
    except OSError:
        return ""


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
