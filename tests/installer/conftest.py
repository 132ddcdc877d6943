"""Fake home trees laid out like each OS, stand-in plugin trees, and a command recorder.

The stand-in plugins have the real plugins' shapes with the smallest payloads (a Blender
extension that registers an operator, Resolve entry scripts and a library); they stand in
for ``plugins/`` until the real plugins are on this branch, then the real ones are used.
The recorder stands in for ``systemctl``/``launchctl``/``cmd``/``blender`` where those
cannot run (another OS, no user systemd): it records argv and answers like them.
"""

from __future__ import annotations

import os
import sys
import textwrap
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from kling_bridge.installer.layout import Layout, OSName

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "daemon" / "kling_bridge" / "client.py"

# The stand-ins mirror the real plugins' shapes: plugins/resolve/Scripts/<Menu>/ entry
# scripts + plugins/resolve/kling_bridge_resolve/ library; plugins/blender_vse/ built into
# <id>-<version>.zip by tools/build_blender_extension.py --out DIR (prints the zip's path).
BLENDER_BUILD = '''\
"""Stand-in for tools/build_blender_extension.py: same command line, same zip layout."""
import argparse, re, zipfile
from pathlib import Path
ap = argparse.ArgumentParser(); ap.add_argument("--out", type=Path, required=True)
out = ap.parse_args().out
src = Path(__file__).resolve().parent.parent / "plugins" / "blender_vse"
text = (src / "blender_manifest.toml").read_text()
ident, version = (re.search("^" + k + r' = "([^"]+)"', text, re.M).group(1)
                  for k in ("id", "version"))
out.mkdir(parents=True, exist_ok=True)
target = out / f"{ident}-{version}.zip"
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
    for f in sorted(src.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            z.write(f, f.relative_to(src).as_posix())
print(target)
'''

BLENDER_MANIFEST = '''\
schema_version = "1.0.0"
id = "kling_bridge"
version = "0.1.0"
name = "Kling Bridge"
tagline = "Restyle strips and generate B-roll with Kling from the Sequencer"
maintainer = "kling-bridge developers"
type = "add-on"
blender_version_min = "4.2.0"
license = ["SPDX:Apache-2.0"]

[permissions]
network = "Talk to the local kling-bridge daemon, which calls Kling"
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

RESOLVE_ENTRY = '''\
import os, sys
sys.path.insert(0, os.path.expanduser("~/.local/share/kling-bridge/resolve"))
import kling_bridge_resolve
kling_bridge_resolve.run({action!r}, globals())
'''


def make_standin_plugins(repo: Path) -> Path:
    """A repository-shaped tree (``plugins/`` + ``tools/``); returns its ``plugins/``."""
    plugins = repo / "plugins"
    b = plugins / "blender_vse"
    b.mkdir(parents=True)
    (b / "blender_manifest.toml").write_text(BLENDER_MANIFEST)
    (b / "__init__.py").write_text(BLENDER_INIT)
    (b / "client.py").write_bytes(CLIENT.read_bytes())
    (repo / "tools").mkdir()
    (repo / "tools" / "build_blender_extension.py").write_text(BLENDER_BUILD)
    r = plugins / "resolve"
    for rel, action in (("Utility/Kling Bridge.py", "dialog"),
                        ("Edit/Kling Bridge - Restyle.py", "restyle"),
                        ("Edit/Kling Bridge - Generate B-roll.py", "generate")):
        (r / "Scripts" / rel).parent.mkdir(parents=True, exist_ok=True)
        (r / "Scripts" / rel).write_text(RESOLVE_ENTRY.format(action=action))
    lib = r / "kling_bridge_resolve"
    lib.mkdir()
    (lib / "__init__.py").write_text("def run(action, namespace=None):\n    print(action)\n")
    (lib / "client.py").write_bytes(b"# Copied from daemon/kling_bridge/client.py\n" +
                                    CLIENT.read_bytes())
    (r / "sync_client.py").write_text("# the plugin's developer tool: not installed\n")
    return plugins


def real_plugins() -> Path | None:
    """The repository's own plugins, once they are on this branch."""
    plugins = REPO / "plugins"
    if ((plugins / "resolve" / "Scripts").is_dir()
            and (plugins / "blender_vse" / "blender_manifest.toml").is_file()
            and (REPO / "tools" / "build_blender_extension.py").is_file()):
        return plugins
    return None


@pytest.fixture(scope="session")
def plugins_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real plugins when the branch has them, else the stand-ins."""
    return real_plugins() or make_standin_plugins(tmp_path_factory.mktemp("repo"))


def resolve_files(plugins: Path) -> tuple[list[str], list[str]]:
    """The Resolve plugin's entry scripts (``Menu/name``) and library files, listed by hand."""
    base = plugins / "resolve"
    menus = sorted(p.relative_to(base / "Scripts").as_posix()
                   for p in (base / "Scripts").rglob("*") if p.is_file()
                   and "__pycache__" not in p.parts)
    lib = sorted(p.relative_to(base).as_posix()
                 for p in (base / "kling_bridge_resolve").rglob("*") if p.is_file()
                 and "__pycache__" not in p.parts)
    return menus, lib


def extension_name(plugins: Path) -> tuple[str, str]:
    """(extension id, zip file name) from the plugin's manifest."""
    data = tomllib.loads((plugins / "blender_vse" / "blender_manifest.toml").read_text())
    return data["id"], f"{data['id']}-{data['version']}.zip"


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
