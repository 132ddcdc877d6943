"""Build hook: the host plugins ride inside the wheel (pyproject.toml holds everything else).

``kling-bridge install`` puts the Resolve scripts and the Blender extension in place from the
installed package, so a wheel (pipx, the bootstrap scripts) must carry the repository's
``plugins/`` folder. It is copied to ``kling_bridge/host_plugins/`` at build time instead of
living inside the package, so the plugins keep their own top-level home in the repository;
an editable install finds them at the checkout's root instead.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PLUGINS = Path(__file__).resolve().parent / "plugins"


class BuildWithPlugins(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode or not PLUGINS.is_dir():
            return
        target = Path(self.build_lib) / "kling_bridge" / "host_plugins"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(PLUGINS, target,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store"))


setup(cmdclass={"build_py": BuildWithPlugins})
