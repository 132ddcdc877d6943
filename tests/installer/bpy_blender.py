"""Blender for the installer's tests: the ``bpy`` wheels' venvs, and a ``blender`` stand-in.

The venvs are the Blender extension's test venvs (``tools/bpy-venvs.sh``: one per series
under ``${KLING_BRIDGE_BPY_CACHE:-$XDG_CACHE_HOME/kling-bridge/bpy}/<series>/``, marked
ready by a ``.ready`` file); the tests use those that are there and skip otherwise.

There is no Blender executable here, only Blender as a Python module. The stand-in
``blender`` answers ``--version`` from ``bpy.app.version_string`` and runs
``--command extension ...`` through Blender's own handler for that command
(``bl_pkg.bl_extension_cli``, the code the real executable runs), so install-file, remove
and the preferences it writes are Blender's, not ours.
"""

from __future__ import annotations

import os
from pathlib import Path

SERIES = ("4.5", "5.2", "4.2", "5.0")

SHIM = '''#!{python}
import sys
args = sys.argv[1:]
import bpy
if args == ["--version"]:
    print("Blender " + bpy.app.version_string)
    sys.exit(0)
if args[:2] != ["--command", "extension"]:
    sys.stderr.write("stand-in blender: only --version and --command extension\\n")
    sys.exit(2)
from bl_pkg import bl_extension_cli
sys.exit(bl_extension_cli.cli_extension_handler(args[2:]))
'''


def cache_dir() -> Path:
    if os.environ.get("KLING_BRIDGE_BPY_CACHE"):
        return Path(os.environ["KLING_BRIDGE_BPY_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "kling-bridge" / "bpy"


def ready_series(limit: int = 2) -> list[str]:
    """Series whose venv is ready, the two the CI always has first."""
    found = [s for s in SERIES if (cache_dir() / s / ".ready").is_file()
             and (cache_dir() / s / "bin" / "python").exists()]
    return found[:limit]


def python_for(series: str) -> Path:
    return cache_dir() / series / "bin" / "python"


def blender_ext_script(series: str) -> Path:
    """Blender's stand-alone extension tool (``validate``, ``build``) inside the wheel."""
    found = sorted((cache_dir() / series / "lib").glob(
        "python3.*/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise FileNotFoundError(f"no blender_ext.py in the bpy {series} venv")
    return found[0]


def make_blender(bin_dir: Path, series: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "blender"
    exe.write_text(SHIM.format(python=python_for(series)))
    exe.chmod(0o755)
    return exe
