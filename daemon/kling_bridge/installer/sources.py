"""Where the host plugins come from, and how their own build scripts turn them into payloads.

The plugins live in the repository's ``plugins/`` folder. A wheel carries them as package
data (``kling_bridge/host_plugins/``, copied there at build time by ``setup.py``), so an
installed bridge (pipx, the bootstrap script) finds them beside its own code; a checkout
(editable install) finds them at the repository root. ``KLING_BRIDGE_PLUGINS`` points
elsewhere (tests, a plugin developer's tree).

Each plugin decides what it ships: the installer runs the plugin's build script
(``python plugins/<name>/build.py --out DIR``) and installs what lands in ``DIR`` -- for
Blender one extension zip, for Resolve the tree of files that goes into each Scripts menu
folder (entry scripts, modules, the client copy).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .apply import InstallError
from .blender import Extension

PACKAGED = "host_plugins"
BUILD_SCRIPT = "build.py"
SKIP_PARTS = {"__pycache__", ".DS_Store"}


def plugins_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("KLING_BRIDGE_PLUGINS"):
        return Path(env["KLING_BRIDGE_PLUGINS"])
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / PACKAGED, package.parent.parent / "plugins"):
        if candidate.is_dir():
            return candidate
    raise InstallError(
        "the host plugins (Resolve, Blender) are not part of this installation",
        "install kling-bridge from its wheel or a checkout of the repository, or set "
        "KLING_BRIDGE_PLUGINS to the repository's plugins/ folder",
    )


def run_build(plugin: Path, out: Path, python: Path) -> None:
    script = plugin / BUILD_SCRIPT
    if not script.is_file():
        raise InstallError(f"{plugin} has no {BUILD_SCRIPT}",
                           "this copy of kling-bridge is incomplete: reinstall it")
    done = subprocess.run([str(python), str(script), "--out", str(out)], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=300, check=False)
    if done.returncode != 0:
        words = (done.stderr or done.stdout).strip().splitlines()
        raise InstallError(f"building {plugin.name} failed: {words[-1] if words else done}",
                           f"run '{python} {script} --out DIR' to see everything")


def _files_under(root: Path) -> list[tuple[str, bytes]]:
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and not SKIP_PARTS & set(rel.parts) and p.suffix != ".pyc":
            out.append((rel.as_posix(), p.read_bytes()))
    return out


def resolve_payload(root: Path, python: Path) -> list[tuple[str, bytes]]:
    """(path inside a Scripts menu folder, bytes) for every file the Resolve build ships."""
    with tempfile.TemporaryDirectory(prefix="kling-resolve-") as tmp:
        run_build(root / "resolve", Path(tmp), python)
        files = _files_under(Path(tmp))
    if not files:
        raise InstallError("the Resolve plugin's build produced no files",
                           "this copy of kling-bridge is incomplete: reinstall it")
    return files


def blender_extension(root: Path, python: Path) -> Extension:
    """The extension zip the Blender plugin's build makes, with its manifest read."""
    with tempfile.TemporaryDirectory(prefix="kling-blender-") as tmp:
        run_build(root / "blender_vse", Path(tmp), python)
        zips = sorted(Path(tmp).glob("*.zip"))
        if len(zips) != 1:
            raise InstallError(f"the Blender build made {len(zips)} zip files, expected one")
        try:
            return Extension.from_zip(zips[0].name, zips[0].read_bytes())
        except (ValueError, OSError) as exc:
            raise InstallError(f"the Blender extension zip is not usable: {exc}") from exc
