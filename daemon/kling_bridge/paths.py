"""Where the bridge keeps its files: the one rule, for the daemon and everything beside it.

``KLING_BRIDGE_HOME`` relocates *every* file the bridge writes (config, database, cache,
outputs, logs, discovery file) under one folder -- tests and CI rely on it, and so can a
user who wants everything on a project drive. Without it, platformdirs' per-user folders.
The OTIO media linker and the installer read the same rule from here (no pydantic, no
settings: cheap to import from an OTIO plugin).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "kling-bridge"


@dataclass(frozen=True)
class Paths:
    """Every place the bridge writes to. Created on demand, never in the source tree."""

    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def discovery_file(self) -> Path:
        return self.config_dir / "daemon.json"

    @property
    def database(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def presets_dir(self) -> Path:
        return self.config_dir / "presets"

    @property
    def credentials_file(self) -> Path:
        """Opt-in 0600 file for machines with no keyring backend."""
        return self.config_dir / "credentials.json"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "kling-bridge.log"

    def ensure(self) -> Paths:
        """Create the folders 0700 (they hold paths, prompts, results and the token)."""
        for d in (self.config_dir, self.data_dir, self.cache_dir, self.log_dir):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                if d.stat().st_mode & 0o077:
                    d.chmod(0o700)
        return self

    @staticmethod
    def under(root: Path) -> Paths:
        """Every folder below one home (``KLING_BRIDGE_HOME``)."""
        return Paths(root / "config", root / "data", root / "cache", root / "logs")

    @staticmethod
    def resolve(env: Mapping[str, str] | None = None) -> Paths:
        """``KLING_BRIDGE_HOME``'s folders when it is set, else the OS's per-user ones."""
        env = os.environ if env is None else env
        home = env.get("KLING_BRIDGE_HOME")
        if home:
            return Paths.under(Path(home).expanduser().resolve())
        return Paths(
            Path(platformdirs.user_config_dir(APP, appauthor=False)),
            Path(platformdirs.user_data_dir(APP, appauthor=False)),
            Path(platformdirs.user_cache_dir(APP, appauthor=False)),
            Path(platformdirs.user_log_dir(APP, appauthor=False)),
        )
