"""Fake home trees laid out like each OS, stand-in plugin trees, and a command recorder.

The stand-in plugins follow the build contract the installer uses (``build.py --out DIR``)
with the smallest real payloads: a Blender extension that registers an operator, Resolve
entry scripts and a module. They stand in for ``plugins/`` until the real plugins land.
The recorder stands in for ``systemctl``/``launchctl``/``cmd``/``blender`` where those
cannot run (another OS, no user systemd): it records argv and answers like them.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from kling_bridge.installer.layout import Layout, OSName

BLENDER_BUILD = '''\
"""Stand-in build: zip this folder (minus this script) as the extension."""
import argparse, zipfile
from pathlib import Path
ap = argparse.ArgumentParser(); ap.add_argument("--out", required=True)
out = Path(ap.parse_args().out); here = Path(__file__).parent
with zipfile.ZipFile(out / "kling_bridge_vse-0.1.0.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for f in sorted(here.rglob("*")):
        if f.is_file() and f.name != "build.py" and "__pycache__" not in f.parts:
            z.write(f, f.relative_to(here).as_posix())
'''

BLENDER_MANIFEST = '''\
schema_version = "1.0.0"
id = "kling_bridge_vse"
version = "0.1.0"
name = "Kling Bridge"
tagline = "Restyle and generate clips with Kling from the Sequencer"
maintainer = "kling-bridge developers"
type = "add-on"
blender_version_min = "4.2.0"
license = ["SPDX:Apache-2.0"]

[permissions]
network = "Talks to the local kling-bridge daemon on loopback"
'''

BLENDER_INIT = '''\
import bpy


class KLINGBRIDGE_OT_ping(bpy.types.Operator):
    bl_idname = "kling_bridge.ping"
    bl_label = "Kling Bridge ping"

    def execute(self, context):
        return {"FINISHED"}


def register():
    bpy.utils.register_class(KLINGBRIDGE_OT_ping)


def unregister():
    bpy.utils.unregister_class(KLINGBRIDGE_OT_ping)
'''

RESOLVE_BUILD = '''\
"""Stand-in build: entry scripts, the plugin's module and the client copy, as installed."""
import argparse, shutil
from pathlib import Path
ap = argparse.ArgumentParser(); ap.add_argument("--out", required=True)
out = Path(ap.parse_args().out); here = Path(__file__).parent
for rel in ("Kling Restyle.py", "Kling Generate.py", "kling_resolve/__init__.py",
            "kling_resolve/kling_client.py"):
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(here / rel, out / rel)
'''


def make_standin_plugins(root: Path) -> Path:
    """A ``plugins/`` tree shaped like the real one, with the installer's build contract."""
    client = Path(__file__).resolve().parents[2] / "daemon" / "kling_bridge" / "client.py"
    b = root / "blender_vse"
    b.mkdir(parents=True)
    (b / "build.py").write_text(BLENDER_BUILD)
    (b / "blender_manifest.toml").write_text(BLENDER_MANIFEST)
    (b / "__init__.py").write_text(BLENDER_INIT)
    (b / "kling_client.py").write_bytes(client.read_bytes())
    r = root / "resolve"
    (r / "kling_resolve").mkdir(parents=True)
    (r / "build.py").write_text(RESOLVE_BUILD)
    for name, action in (("Kling Restyle.py", "restyle"), ("Kling Generate.py", "generate")):
        (r / name).write_text(f"from kling_resolve import run\nrun({action!r})\n")
    (r / "kling_resolve" / "__init__.py").write_text("def run(action):\n    print(action)\n")
    (r / "kling_resolve" / "kling_client.py").write_bytes(client.read_bytes())
    (r / "README.md").write_text("not installed: the build leaves it out\n")
    return root


@pytest.fixture(scope="session")
def standin_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_standin_plugins(tmp_path_factory.mktemp("plugins") / "plugins")


def fake_home(base: Path, os_name: OSName, plugins: Path,
              extra_env: dict[str, str] | None = None) -> Layout:
    """An empty home laid out like ``os_name``'s, and the Layout a user there would have."""
    env: dict[str, str] = {"KLING_BRIDGE_PLUGINS": str(plugins), "PATH": str(base / "bin")}
    (base / "bin").mkdir(parents=True, exist_ok=True)
    if os_name == "windows":
        home = base / "Users" / "ana"
        env.update(APPDATA=str(home / "AppData" / "Roaming"),
                   LOCALAPPDATA=str(home / "AppData" / "Local"),
                   PROGRAMDATA=str(base / "ProgramData"),
                   PROGRAMFILES=str(base / "Program Files"),
                   USERPROFILE=str(home))
        for d in ("AppData/Roaming", "AppData/Local", "Desktop"):
            (home / d).mkdir(parents=True)
        (base / "ProgramData").mkdir()
    elif os_name == "macos":
        home = base / "Users" / "ana"
        for d in ("Library/Application Support", "Library/Preferences", "Desktop"):
            (home / d).mkdir(parents=True)
        env["HOME"] = str(home)
    else:
        home = base / "home" / "ana"
        for d in (".config", ".local/share", "Videos"):
            (home / d).mkdir(parents=True)
        env["HOME"] = str(home)
    env.update(extra_env or {})
    ffmpeg_dir = base / ("Program Files/ffmpeg/bin" if os_name == "windows" else "opt/bin")
    return Layout(os=os_name, home=home, env=env, python=Path(sys.executable),
                  path_dirs=(ffmpeg_dir,), uid=501)


class Recorder:
    """Stands in for the OS's service tools and Blender: records argv, answers like them."""

    def __init__(self, blender_version: str = "Blender 4.2.3 LTS",
                 fail: Callable[[Sequence[str]], bool] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.blender_version = blender_version
        self.fail = fail or (lambda argv: False)

    def __call__(self, argv: Sequence[str]) -> tuple[int, str]:
        self.calls.append(list(argv))
        if self.fail(argv):
            return 1, "Failed to connect to bus: No medium found"
        if argv[1:] == ["--version"]:
            return 0, f"{self.blender_version}\n\tbuild date: 2024-07-16"
        return 0, ""

    def programs(self) -> list[str]:
        return [Path(c[0]).name for c in self.calls]


def snapshot(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every file, link and folder under ``root`` with its content: equal means untouched."""
    out: dict[str, tuple[str, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", "")
            else:
                out[rel] = ("file", p.read_bytes())
    return out


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path
