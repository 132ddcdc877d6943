"""Where the host plugins come from: the installed package, or the repository checkout.

Two shapes of the same ``plugins/`` folder:

- **installed** (a wheel: pipx, the bootstrap scripts): ``kling_bridge/host_plugins/``, made
  by ``setup.py`` at build time -- ``resolve/`` copied as it is, and ``blender/`` holding the
  extension zip the Blender plugin's build script made (``tools/build_blender_extension.py``,
  which needs the repository around it, so it runs when the wheel is built);
- **checkout** (an editable install): the repository's ``plugins/``; the Blender zip is built
  now by the same script, found at ``plugins/../tools/``.

``KLING_BRIDGE_PLUGINS`` names either shape (tests, a plugin developer's tree).
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
BLENDER_BUILD = Path("tools") / "build_blender_extension.py"  # relative to the repository
RESOLVE_MENUS_DIR = "Scripts"
RESOLVE_LIB = "kling_bridge_resolve"
SKIP_PARTS = {"__pycache__", ".DS_Store"}
INCOMPLETE = "this copy of kling-bridge is incomplete: reinstall it"


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


def files_under(root: Path) -> list[tuple[str, bytes]]:
    """(posix path relative to ``root``, bytes), sorted, without caches."""
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and not SKIP_PARTS & set(rel.parts) and p.suffix != ".pyc":
            out.append((rel.as_posix(), p.read_bytes()))
    return out


def resolve_payload(root: Path) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """The entry scripts (``Menu/name.py``) and the library (``kling_bridge_resolve/...``)."""
    plugin = root / "resolve"
    menus, lib = plugin / RESOLVE_MENUS_DIR, plugin / RESOLVE_LIB
    if not menus.is_dir() or not (lib / "__init__.py").is_file():
        raise InstallError(f"{plugin} lacks {RESOLVE_MENUS_DIR}/ or {RESOLVE_LIB}/", INCOMPLETE)
    return files_under(menus), [(f"{RESOLVE_LIB}/{rel}", data) for rel, data in
                                files_under(lib)]


def blender_extension(root: Path, python: Path) -> Extension:
    """The extension zip: the one the wheel carries, or one built now from the checkout."""
    built = sorted((root / "blender").glob("*.zip"))
    if len(built) == 1:
        return _extension(built[0])
    script = root.parent / BLENDER_BUILD
    if not script.is_file():
        raise InstallError(f"no Blender extension in {root / 'blender'} and no {script} to "
                           "build one", INCOMPLETE)
    with tempfile.TemporaryDirectory(prefix="kling-blender-") as tmp:
        done = subprocess.run([str(python), str(script), "--out", tmp], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=300, check=False)
        if done.returncode != 0:
            words = (done.stderr or done.stdout).strip().splitlines()
            raise InstallError(f"building the Blender extension failed: "
                               f"{words[-1] if words else done.returncode}",
                               f"run '{python} {script}' to see everything")
        zips = sorted(Path(tmp).glob("*.zip"))
        if len(zips) != 1:
            raise InstallError(f"the Blender build made {len(zips)} zip files, expected one")
        return _extension(zips[0])


def _extension(path: Path) -> Extension:
    try:
        return Extension.from_zip(path.name, path.read_bytes())
    except (ValueError, OSError) as exc:
        raise InstallError(f"the Blender extension {path.name} is not usable: {exc}",
                           INCOMPLETE) from exc
