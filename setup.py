"""Build hook: the host plugins ride inside the wheel (pyproject.toml holds everything else).

``kling-bridge install`` puts the Resolve scripts and the Blender extension in place from the
installed package, so a wheel (pipx, the bootstrap scripts) carries them in
``kling_bridge/host_plugins/``: ``resolve/`` copied from ``plugins/resolve/``, and
``blender/`` holding the extension zip made by the Blender plugin's own build script
(``tools/build_blender_extension.py``, which needs the repository around it). The plugins
keep their top-level home in the repository; an editable install finds them there.
"""

import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PLUGINS = ROOT / "plugins"
BLENDER_BUILD = ROOT / "tools" / "build_blender_extension.py"


class BuildWithPlugins(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode or not PLUGINS.is_dir():
            return
        target = Path(self.build_lib) / "kling_bridge" / "host_plugins"
        shutil.rmtree(target, ignore_errors=True)
        if (PLUGINS / "resolve").is_dir():
            shutil.copytree(PLUGINS / "resolve", target / "resolve", ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", ".DS_Store", "sync_client.py"))
        if (PLUGINS / "blender_vse").is_dir() and BLENDER_BUILD.is_file():
            subprocess.run([sys.executable, str(BLENDER_BUILD), "--out", str(target / "blender")],
                           check=True)


setup(cmdclass={"build_py": BuildWithPlugins})
