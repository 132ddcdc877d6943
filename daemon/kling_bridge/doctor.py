"""``kling-bridge doctor``: everything a fresh machine needs, checked for real, with fixes.

Each check does the thing it vouches for instead of looking for a sign of it: ffmpeg
encodes a clip and ffprobe reads it back, the database runs SQLite's own quick_check,
the daemon is asked for its health with its token. A check that fails says what to do.
Nothing here prints a secret: credentials are described by where they come from, the
daemon's token is sent only to a loopback address and never shown, and every detail goes
through the same redaction as the log file.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from keyring.backend import KeyringBackend

from .config import ConfigError, Paths, Settings, load_settings
from .credentials import CredentialError, describe, keyring_status, load_credential
from .logs import redact
from .providers.base import Reachability

Level = Literal["ok", "warn", "fail"]
ProviderCheck = Callable[[], Awaitable[Reachability]]

GB = 1024**3
#: Restyle outputs are large (a minute of 1080p intermediates is several GB).
LOW_DISK_BYTES = 5 * GB
CRITICAL_DISK_BYTES = GB // 2
HEALTH_TIMEOUT = 2.0
PROVIDER_TIMEOUT = 15.0
_SYMBOL = {"ok": "✓", "warn": "!", "fail": "✗"}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's answer. ``ok`` is False only for ``level == "fail"``."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    level: Level = "ok"

    @staticmethod
    def make(name: str, level: Level, detail: str, fix: str = "") -> Check:
        return Check(name, level != "fail", redact(detail), redact(fix), level)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _install_hint(tool: str) -> str:
    if sys.platform == "darwin":
        return f"Install it: `brew install ffmpeg` (provides {tool})."
    if sys.platform == "win32":
        return f"Install it: `winget install Gyan.FFmpeg` (provides {tool}), then reopen the shell."
    return (f"Install it: `sudo apt install ffmpeg` (Debian/Ubuntu) or `sudo dnf install ffmpeg` "
            f"(Fedora); {tool} must be on PATH.")


# -- ffmpeg ---------------------------------------------------------------------------


def check_tool(tool: str) -> Check:
    """Is ``tool`` on PATH, does it run, which version is it?"""
    exe = shutil.which(tool)
    if exe is None:
        return Check.make(tool, "fail", f"{tool} was not found on PATH.", _install_hint(tool))
    try:
        out = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True,
                             timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check.make(tool, "fail", f"{exe} does not run ({type(exc).__name__}: {exc}).",
                          _install_hint(tool))
    first = (out.stdout or out.stderr).splitlines()[:1]
    if out.returncode != 0 or not first:
        return Check.make(tool, "fail", f"{exe} -version exited with {out.returncode}.",
                          _install_hint(tool))
    match = re.match(rf"{tool} version (\S+)", first[0])
    version = match.group(1) if match else first[0]
    major = re.match(r"n?(\d+)\.", version)
    if major and int(major.group(1)) < 4:
        return Check.make(tool, "warn", f"{version} at {exe} is older than 4.x.",
                          "Upgrade ffmpeg; older builds lack filters the conform step uses.")
    return Check.make(tool, "ok", f"{version} at {exe}")


def check_roundtrip() -> Check:
    """Encode a tiny H.264 clip with ffmpeg and read it back with ffprobe, in a temp dir."""
    name = "ffmpeg encode+probe"
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if not ffmpeg or not ffprobe:
        return Check.make(name, "fail", "skipped: ffmpeg and ffprobe are both needed.",
                          _install_hint("ffmpeg and ffprobe"))
    with tempfile.TemporaryDirectory(prefix="kb-doctor-") as tmp:
        clip = Path(tmp) / "probe.mp4"
        enc = subprocess.run(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi",
             "-i", "testsrc2=size=64x36:rate=24:duration=0.25", "-c:v", "libx264",
             "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip)],
            capture_output=True, text=True, timeout=60, check=False)
        if enc.returncode != 0 or not clip.exists():
            tail = (enc.stderr.strip().splitlines() or ["no output"])[-1]
            return Check.make(name, "fail", f"ffmpeg could not encode an H.264 test clip: {tail}",
                              "Install an ffmpeg build with libx264 (distribution packages "
                              "and the official static builds have it).")
        probe = subprocess.run(
            [ffprobe, "-v", "error", "-of", "json", "-show_streams", "-count_frames",
             str(clip)], capture_output=True, text=True, timeout=60, check=False)
    try:
        stream = json.loads(probe.stdout)["streams"][0]
        frames = int(stream["nb_read_frames"])
        geometry = (int(stream["width"]), int(stream["height"]))
    except (ValueError, KeyError, IndexError, TypeError):
        return Check.make(name, "fail", f"ffprobe could not read the test clip "
                          f"(exit {probe.returncode}: {probe.stderr.strip()[:200]}).",
                          "Reinstall ffmpeg so that ffmpeg and ffprobe come from the same build.")
    if (stream.get("codec_name"), geometry, frames) != ("h264", (64, 36), 6):
        return Check.make(name, "fail", f"test clip read back wrong: {stream.get('codec_name')} "
                          f"{geometry[0]}x{geometry[1]}, {frames} frames (expected h264 64x36, 6).",
                          "Reinstall ffmpeg so that ffmpeg and ffprobe come from the same build.")
    return Check.make(name, "ok", "encoded an H.264 clip and probed it back (6 frames, 64x36)")


# -- credentials and keyring -----------------------------------------------------------


def check_keyring(backend: KeyringBackend | None = None) -> Check:
    usable, name, why = keyring_status(backend)
    if usable:
        return Check.make("keyring", "ok", name)
    return Check.make(
        "keyring", "warn", why,
        "Optional: set KLING_API_KEY in the environment, or `kling-bridge login "
        "--insecure-file` to keep the key in a 0600 file.")


def check_credentials(settings: Settings, paths: Paths,
                      backend: KeyringBackend | None = None) -> Check:
    name = "credentials"
    try:
        cred = load_credential(paths, keyring_backend=backend)
    except CredentialError as exc:
        return Check.make(name, "fail", exc.message, exc.hint)
    info = describe(cred)
    if not cred.configured:
        if settings.provider == "kling":
            return Check.make(name, "fail", "provider is kling but no Kling credential is set.",
                              "Run `kling-bridge login`, or set KLING_API_KEY.")
        return Check.make(name, "ok", "none (the draft provider needs none)")
    detail = f"{info['kind']} from {info['source']} ({info['standard']} API standard)"
    if settings.kling.standard == "new" and cred.standard == "legacy":
        return Check.make(name, "fail", f"{detail}, but config says kling.standard = \"new\", "
                          "which accepts only an API key.",
                          "Log in with an API key, or set kling.standard to \"auto\".")
    return Check.make(name, "ok", detail)


# -- disk, database, config -----------------------------------------------------------


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_disk(paths: Paths, warn_below: int = LOW_DISK_BYTES,
               fail_below: int = CRITICAL_DISK_BYTES) -> list[Check]:
    """Free space where outputs and caches are written (one line per filesystem)."""
    checks: list[Check] = []
    seen: set[int] = set()
    for label, folder in (("data", paths.data_dir), ("cache", paths.cache_dir)):
        where = _existing(folder)
        dev = where.stat().st_dev
        if dev in seen:
            continue
        seen.add(dev)
        free = shutil.disk_usage(where).free
        detail = f"{free / GB:.1f} GB free for {label} at {folder}"
        if free < fail_below:
            checks.append(Check.make(f"disk ({label})", "fail", detail,
                                     "Free space there, or move KLING_BRIDGE_HOME to a bigger "
                                     "drive: restyle outputs are large."))
        elif free < warn_below:
            checks.append(Check.make(f"disk ({label})", "warn", detail,
                                     f"Keep at least {warn_below / GB:.0f} GB free: "
                                     "restyle outputs are large."))
        else:
            checks.append(Check.make(f"disk ({label})", "ok", detail))
    return checks


def check_database(paths: Paths) -> Check:
    name = "database"
    db = paths.database
    if not db.exists():
        return Check.make(name, "ok", f"{db} will be created on first run")
    aside = db.with_name(db.name + ".broken")
    fix = (f"Stop the daemon and move the file aside (`mv {db} {aside}`); a new one is created "
           "on start. Job history in it is lost; finished outputs on disk are not.")
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=rw", uri=True, timeout=5)
    except sqlite3.Error as exc:
        return Check.make(name, "fail", f"{db} cannot be opened: {exc}",
                          f"Check the permissions of {db} and its folder.")
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        return Check.make(name, "fail", f"{db} is damaged: {exc}", fix)
    finally:
        conn.close()
    if rows != ["ok"]:
        return Check.make(name, "fail", f"{db} is damaged: {'; '.join(rows[:3])}", fix)
    size = db.stat().st_size
    if mode.lower() != "wal":
        return Check.make(name, "warn", f"{db} passes quick_check but is in {mode} mode, not WAL.",
                          "Restart the daemon; it switches the database to WAL on start.")
    return Check.make(name, "ok", f"{db} passes quick_check (WAL, {size // 1024} KB)")


def check_config(paths: Paths) -> tuple[Check, Settings | None]:
    name = "config"
    try:
        settings = load_settings(paths)
    except ConfigError as exc:
        return Check.make(name, "fail", str(exc), f"Fix or delete {paths.config_file}."), None
    if not paths.config_file.exists():
        return Check.make(name, "ok", f"defaults (no {paths.config_file})"), settings
    return Check.make(name, "ok", f"{paths.config_file} parses; provider {settings.provider}"), \
        settings


# -- the running daemon ---------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def check_daemon(paths: Paths, timeout: float = HEALTH_TIMEOUT) -> Check:
    """Discovery file sane and private, and the daemon in it answers its health route."""
    name = "daemon"
    path = paths.discovery_file
    if not path.exists():
        return Check.make(name, "warn", "not running (no discovery file)",
                          "Start it with `kling-bridge serve` (or install the service).")
    restart = "Stop the daemon, delete the file and start it again (the token is renewed)."
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        return Check.make(name, "fail", f"{path} is readable by other users "
                          f"(mode {mode:o}); its token lets them drive the daemon.", restart)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        host, port, token = str(info["host"]), int(info["port"]), str(info["token"])
        pid = int(info.get("pid") or 0)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Check.make(name, "fail", f"{path} is unreadable ({type(exc).__name__}).", restart)
    if not _is_loopback(host):
        return Check.make(name, "fail", f"{path} points at {host}, which is not a loopback "
                          "address; the token was not sent.", restart)
    if pid and not _pid_alive(pid):
        return Check.make(name, "warn", f"stale discovery file: process {pid} is gone.",
                          f"Delete {path} or start the daemon with `kling-bridge serve`.")
    url_host = f"[{host.strip('[]')}]" if ":" in host else host
    request = urllib.request.Request(f"http://{url_host}:{port}/v1/health",
                                     headers={"Authorization": f"Bearer {token}"})
    # No proxies: an http_proxy variable must never receive the daemon's token.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as resp:
            body = json.loads(resp.read(65536) or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return Check.make(name, "fail", f"a server on {host}:{port} refused the token in "
                              f"{path} (HTTP {exc.code}).", restart)
        return Check.make(name, "fail", f"{host}:{port} answered HTTP {exc.code} to /v1/health.",
                          "See the daemon log for the cause.")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check.make(name, "fail", f"nothing answers on {host}:{port} ({reason}).",
                          f"Start it with `kling-bridge serve`; if it crashed, delete {path}.")
    version = body.get("version", "?") if isinstance(body, dict) else "?"
    return Check.make(name, "ok", f"answering on {host}:{port} (version {version}, pid {pid})")


# -- provider -------------------------------------------------------------------------


async def check_provider(settings: Settings, provider_check: ProviderCheck | None,
                         timeout: float = PROVIDER_TIMEOUT) -> Check:
    name = f"provider ({settings.provider})"
    if provider_check is None:
        if settings.provider == "draft":
            return Check.make(name, "ok", "local and offline: always reachable")
        return Check.make(name, "warn", "reachability not checked",
                          "Run `kling-bridge doctor` with the daemon's configuration.")
    try:
        reach = await asyncio.wait_for(provider_check(), timeout)
    except TimeoutError:
        return Check.make(name, "fail", f"no answer within {timeout:g} s.",
                          f"Check the network and kling.api_base ({settings.kling.base_url}).")
    except Exception as exc:
        return Check.make(name, "fail", f"check failed: {type(exc).__name__}: {exc}",
                          "See the daemon log for details.")
    if reach.ok:
        return Check.make(name, "ok", reach.detail)
    return Check.make(name, "fail", reach.detail, reach.hint or "See the daemon log for details.")


# -- running and showing --------------------------------------------------------------


async def run_checks(
    settings: Settings | None,
    paths: Paths,
    *,
    provider_check: ProviderCheck | None = None,
    keyring_backend: KeyringBackend | None = None,
    include_daemon: bool = True,
    warn_below_bytes: int = LOW_DISK_BYTES,
) -> list[Check]:
    """Every check, in a stable order. Blocking ones run in threads, concurrently.

    ``settings=None`` loads them here, so a broken config file is one failed line rather
    than a crash that hides every other answer. The daemon passes its own settings and
    ``include_daemon=False`` (asking itself over HTTP would prove nothing).
    """
    config_check, loaded = await asyncio.to_thread(check_config, paths)
    if settings is None:
        settings = loaded or Settings()
    tools = asyncio.gather(
        asyncio.to_thread(check_tool, "ffmpeg"),
        asyncio.to_thread(check_tool, "ffprobe"),
        asyncio.to_thread(check_roundtrip),
    )
    keyring_check = asyncio.to_thread(check_keyring, keyring_backend)
    cred_check = asyncio.to_thread(check_credentials, settings, paths, keyring_backend)
    disk = asyncio.to_thread(check_disk, paths, warn_below_bytes)
    database = asyncio.to_thread(check_database, paths)
    daemon = asyncio.to_thread(check_daemon, paths) if include_daemon else None
    provider = check_provider(settings, provider_check)
    ffmpeg_checks, k, c, d, db, p = await asyncio.gather(
        tools, keyring_check, cred_check, disk, database, provider)
    checks = [*ffmpeg_checks, config_check, k, c, *d, db]
    if daemon is not None:
        checks.append(await daemon)
    checks.append(p)
    return checks


def run_checks_sync(settings: Settings | None, paths: Paths, **kwargs: Any) -> list[Check]:
    """For the CLI, which has no event loop of its own."""
    return asyncio.run(run_checks(settings, paths, **kwargs))


def summary(checks: Sequence[Check]) -> dict[str, int]:
    return {level: sum(c.level == level for c in checks) for level in ("ok", "warn", "fail")}


def checks_to_json(checks: Sequence[Check]) -> dict[str, Any]:
    """The JSON-able form (``doctor --json``, health): overall verdict plus every line."""
    return {"ok": all(c.ok for c in checks), "summary": summary(checks),
            "checks": [c.to_dict() for c in checks]}


def format_checks(checks: Sequence[Check]) -> str:
    """An aligned table for the terminal; the fix goes on the line under a problem."""
    width = max((len(c.name) for c in checks), default=0)
    lines: list[str] = []
    for c in checks:
        lines.append(f"{_SYMBOL[c.level]}  {c.name.ljust(width)}  {c.detail}")
        if c.fix and c.level != "ok":
            lines.append(f"   {' ' * width}  fix: {c.fix}")
    counts = summary(checks)
    lines.append("")
    lines.append(f"{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed")
    return "\n".join(lines)

