"""Where things go on each OS, computed from a home folder and an environment -- nothing else.

The installer never asks the running system where a folder is while it plans: every path
comes from a :class:`Layout`, which is plain data (an OS name, a home, the environment
variables that move folders). ``Layout.detect()`` builds the real one at the edge; tests
build one per OS over a fake home tree and get the same answers a user of that OS would.

The bridge's own folders follow platformdirs' rules (what ``Paths.resolve()`` uses at run
time, so the service logs where the daemon logs); the host folders follow what Resolve and
Blender read (see the project's ``hosts.md``: on Windows Resolve's per-user scripts live
under ``%APPDATA%\\Blackmagic Design\\DaVinci Resolve\\Support``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..paths import APP, Paths

OSName = Literal["linux", "macos", "windows"]
OS_NAMES: tuple[OSName, ...] = ("linux", "macos", "windows")

SERVICE_NAME = "kling-bridge"
LAUNCHD_LABEL = "kling-bridge.daemon"


class LayoutError(ValueError):
    """The environment does not say where a needed folder is (e.g. no APPDATA on Windows)."""


def current_os(platform: str | None = None) -> OSName:
    platform = platform or sys.platform
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "macos"
    return "linux"


@dataclass(frozen=True)
class Layout:
    """One user's machine as the installer sees it.

    ``python`` is the interpreter the service runs the daemon with (the one that has the
    bridge installed); ``path_dirs`` are folders the service must have on its PATH (where
    ffmpeg was found: launchd and systemd start services with a bare PATH).
    """

    os: OSName
    home: Path
    env: Mapping[str, str] = field(default_factory=dict)
    python: Path = Path(sys.executable)
    path_dirs: tuple[Path, ...] = ()
    uid: int | None = None

    # ------------------------------------------------------------ environment helpers

    def _env_dir(self, name: str, default: Path) -> Path:
        """An XDG-style override: used only when set to an absolute path (as the spec says)."""
        value = self.env.get(name, "").strip()
        return Path(value) if value and Path(value).is_absolute() else default

    def _win_dir(self, name: str, fallback: str) -> Path:
        value = self.env.get(name, "").strip()
        if value:
            return Path(value)
        if self.os != "windows":
            raise LayoutError(f"{name} only exists on Windows")
        return self.home / fallback

    @property
    def appdata(self) -> Path:
        """%APPDATA% (roaming): where Resolve keeps per-user scripts and Startup lives."""
        return self._win_dir("APPDATA", "AppData/Roaming")

    @property
    def localappdata(self) -> Path:
        return self._win_dir("LOCALAPPDATA", "AppData/Local")

    @property
    def programdata(self) -> Path:
        """%PROGRAMDATA%: all users (Resolve's system-wide scripts; we never write there)."""
        value = self.env.get("PROGRAMDATA", "").strip()
        return Path(value) if value else Path("C:/ProgramData")

    @property
    def xdg_config(self) -> Path:
        return self._env_dir("XDG_CONFIG_HOME", self.home / ".config")

    @property
    def xdg_data(self) -> Path:
        return self._env_dir("XDG_DATA_HOME", self.home / ".local" / "share")

    @property
    def xdg_state(self) -> Path:
        return self._env_dir("XDG_STATE_HOME", self.home / ".local" / "state")

    @property
    def xdg_cache(self) -> Path:
        return self._env_dir("XDG_CACHE_HOME", self.home / ".cache")

    # ------------------------------------------------------------ the bridge's folders

    @property
    def bridge(self) -> Paths:
        """The bridge's config/data/cache/log folders, as ``Paths.resolve`` finds them there."""
        root = self.env.get("KLING_BRIDGE_HOME", "").strip()
        return Paths.under(Path(root).expanduser()) if root else self.platform_bridge

    @property
    def platform_bridge(self) -> Paths:
        """The bridge's folders by the OS's rules alone (no ``KLING_BRIDGE_HOME``)."""
        if self.os == "linux":
            return Paths(self.xdg_config / APP, self.xdg_data / APP, self.xdg_cache / APP,
                         self.xdg_state / APP / "log")
        if self.os == "macos":
            support = self.home / "Library" / "Application Support" / APP
            return Paths(support, support, self.home / "Library" / "Caches" / APP,
                         self.home / "Library" / "Logs" / APP)
        local = self.localappdata / APP
        return Paths(local, local, local / "Cache", local / "Logs")

    @property
    def manifest_file(self) -> Path:
        """What install wrote, so uninstall removes exactly that."""
        return self.bridge.data_dir / "installed.json"

    @property
    def staging_dir(self) -> Path:
        """Where built artefacts we keep (the Blender extension zip) live."""
        return self.bridge.data_dir / "installed"

    @property
    def service_log(self) -> Path:
        """The service's own stdout/stderr (start-up failures); the daemon logs beside it."""
        return self.bridge.log_dir / "service.log"

    # ------------------------------------------------------------ service locations

    @property
    def service_file(self) -> Path:
        if self.os == "linux":
            return self.xdg_config / "systemd" / "user" / f"{SERVICE_NAME}.service"
        if self.os == "macos":
            return self.home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        return self.startup_folder / f"{SERVICE_NAME}.cmd"

    @property
    def systemd_wants_link(self) -> Path:
        """What ``systemctl --user enable`` makes for ``WantedBy=default.target``."""
        return self.xdg_config / "systemd" / "user" / "default.target.wants" / \
            f"{SERVICE_NAME}.service"

    @property
    def startup_folder(self) -> Path:
        """The per-user Startup folder: runs at logon, no administrator rights needed."""
        return self.appdata / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup"

    # ------------------------------------------------------------ host locations

    @property
    def resolve_scripts(self) -> Path:
        """Resolve's per-user ``Fusion/Scripts`` folder (per hosts.md, ``Support`` on Windows)."""
        if self.os == "linux":
            return self.home / ".local" / "share" / "DaVinciResolve" / "Fusion" / "Scripts"
        if self.os == "macos":
            return (self.home / "Library" / "Application Support" / "Blackmagic Design" /
                    "DaVinci Resolve" / "Fusion" / "Scripts")
        return (self.appdata / "Blackmagic Design" / "DaVinci Resolve" / "Support" / "Fusion" /
                "Scripts")

    @property
    def resolve_lib(self) -> Path:
        """Where the Resolve entry scripts look for their library (``kling_bridge_resolve``).

        Resolve starts scripts without the user's shell variables, so this is the OS's data
        folder for the bridge even when ``KLING_BRIDGE_HOME`` moves everything else.
        """
        return self.platform_bridge.data_dir / "resolve"

    @property
    def resolve_installed_markers(self) -> tuple[Path, ...]:
        """Folders whose presence says Resolve has been installed or run (for messages only)."""
        if self.os == "linux":
            return (Path("/opt/resolve"), self.home / ".local" / "share" / "DaVinciResolve")
        if self.os == "macos":
            return (Path("/Applications/DaVinci Resolve"),
                    self.home / "Library" / "Application Support" / "Blackmagic Design" /
                    "DaVinci Resolve")
        return (self.programdata / "Blackmagic Design" / "DaVinci Resolve",
                self.appdata / "Blackmagic Design" / "DaVinci Resolve")

    @property
    def blender_config_root(self) -> Path:
        """Blender's per-user folder holding one sub-folder per version (``4.2``, ``5.0``)."""
        if self.os == "linux":
            return self.xdg_config / "blender"
        if self.os == "macos":
            return self.home / "Library" / "Application Support" / "Blender"
        return self.appdata / "Blender Foundation" / "Blender"

    def blender_candidates(self) -> tuple[Path, ...]:
        """Where a Blender executable usually is, beyond PATH (checked in this order)."""
        if self.os == "macos":
            return (Path("/Applications/Blender.app/Contents/MacOS/Blender"),
                    self.home / "Applications" / "Blender.app" / "Contents" / "MacOS" / "Blender")
        if self.os == "windows":
            base = Path(self.env.get("PROGRAMFILES", "C:/Program Files")) / "Blender Foundation"
            return tuple(sorted(base.glob("Blender */blender.exe"), reverse=True)) \
                if base.is_dir() else ()
        return (Path("/snap/bin/blender"), Path("/usr/bin/blender"),
                Path("/usr/local/bin/blender"), self.home / ".local" / "bin" / "blender")

    # ------------------------------------------------------------ the real machine

    @staticmethod
    def detect(env: Mapping[str, str] | None = None, python: Path | None = None) -> Layout:
        """This machine, this user, this interpreter (the edge; everything else is pure)."""
        env = dict(os.environ if env is None else env)
        tools = [shutil.which(t, path=env.get("PATH")) for t in ("ffmpeg", "ffprobe")]
        dirs = tuple(dict.fromkeys(Path(t).parent for t in tools if t))
        getuid = getattr(os, "getuid", None)
        return Layout(
            os=current_os(),
            home=Path(env.get("USERPROFILE" if current_os() == "windows" else "HOME")
                      or Path.home()),
            env=env,
            python=python or Path(sys.executable),
            path_dirs=dirs,
            uid=getuid() if getuid else None,
        )
