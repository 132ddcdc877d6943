"""Blender: the extension zip, installed by Blender itself when a Blender 4.2+ is found.

With a Blender >= 4.2 on this machine: keep the zip in the bridge's data folder and run
``blender --command extension install-file -r user_default -e ZIP`` (Blender unpacks,
registers and enables it; uninstall runs ``extension remove``). Without one, the extension
is unpacked into the ``user_default`` extensions folder of every Blender 4.2+ version that
has a preferences folder here, where Blender lists it at next start, and the user enables
it once in Preferences; with no Blender at all, the zip waits in the data folder and the
message says how to install it from Blender.
"""

from __future__ import annotations

import io
import re
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .layout import Layout
from .plan import Command, Plan, WriteFile

COMPONENT = "blender"
MIN_VERSION = (4, 2)
REPO = "user_default"
_VERSION = re.compile(r"^Blender (\d+)\.(\d+)(?:\.(\d+))?", re.MULTILINE)


@dataclass(frozen=True)
class BlenderFound:
    exe: Path
    version: tuple[int, int, int]

    @property
    def label(self) -> str:
        return ".".join(str(v) for v in self.version)


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``blender --version`` prints ``Blender 4.2.3 LTS`` (or ``Blender 5.0.0 Alpha``)."""
    m = _VERSION.search(text)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


@dataclass(frozen=True)
class Extension:
    """A built extension zip and what its ``blender_manifest.toml`` says."""

    filename: str
    data: bytes
    id: str
    version: str
    name: str

    @staticmethod
    def from_zip(filename: str, data: bytes) -> Extension:
        manifest = read_manifest(data)
        return Extension(filename, data, str(manifest["id"]), str(manifest["version"]),
                         str(manifest.get("name", manifest["id"])))

    def members(self) -> list[tuple[str, bytes]]:
        """The zip's files (for unpacking into an extensions folder), safe paths only."""
        out: list[tuple[str, bytes]] = []
        with zipfile.ZipFile(io.BytesIO(self.data)) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                parts = PurePosixPath(info.filename).parts
                if PurePosixPath(info.filename).is_absolute() or ".." in parts:
                    raise ValueError(f"{self.filename}: unsafe path {info.filename!r}")
                out.append((info.filename, zf.read(info)))
        return out


def read_manifest(zip_bytes: bytes) -> dict[str, object]:
    """The extension's manifest, found at the zip's root (or in its single top folder)."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        names = [n for n in zf.namelist() if PurePosixPath(n).name == "blender_manifest.toml"]
        if not names:
            raise ValueError("the extension zip has no blender_manifest.toml")
        data = tomllib.loads(zf.read(min(names, key=len)).decode("utf-8"))
    for key in ("id", "version"):
        if key not in data:
            raise ValueError(f"blender_manifest.toml has no {key!r}")
    return data


def find_blender(layout: Layout, candidates: Sequence[Path],
                 version_of: object) -> BlenderFound | None:
    """The newest Blender among ``candidates`` (``version_of(exe) -> text`` runs it)."""
    best: BlenderFound | None = None
    seen: set[str] = set()
    for exe in candidates:
        key = str(exe)
        if key in seen or not exe.is_file():
            continue
        seen.add(key)
        text = version_of(exe) if callable(version_of) else ""
        version = parse_version(text or "")
        if version and (best is None or version > best.version):
            best = BlenderFound(exe, version)
    return best


def config_versions(layout: Layout) -> list[str]:
    """Blender 4.2+ versions that have a preferences folder for this user (``4.2``, ``5.0``)."""
    root = layout.blender_config_root
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        m = re.fullmatch(r"(\d+)\.(\d+)", d.name)
        if d.is_dir() and m and (int(m.group(1)), int(m.group(2))) >= MIN_VERSION:
            out.append(d.name)
    return sorted(out, key=lambda v: tuple(int(x) for x in v.split(".")))


def blender_plan(layout: Layout, ext: Extension, blender: BlenderFound | None,
                 versions: Sequence[str]) -> Plan:
    zip_path = layout.staging_dir / ext.filename
    keep = WriteFile(zip_path, ext.data, COMPONENT)
    if blender is not None and blender.version[:2] >= MIN_VERSION:
        exe = str(blender.exe)
        return Plan(
            actions=(keep,),
            commands=(Command(
                (exe, "--command", "extension", "install-file", "-r", REPO, "-e", str(zip_path)),
                f"install and enable the extension in Blender {blender.label}", COMPONENT,
                when="changed"),),
            undo=(Command((exe, "--command", "extension", "remove", f"{REPO}.{ext.id}"),
                          "remove the extension from Blender", COMPONENT, optional=True,
                          fail_note=f"Blender did not remove the extension {ext.id}; remove it "
                          "in Edit > Preferences > Add-ons"),),
            notes=(f"Blender {blender.label}: {ext.name} is installed and enabled (Sequencer: "
                   "Strip menu and sidebar); restart Blender if it is open",),
            components=(COMPONENT,),
        )
    notes: list[str] = []
    if blender is not None:
        notes.append(f"Blender {blender.label} at {blender.exe} is older than 4.2, which "
                     "extensions need")
    actions: list[WriteFile] = [keep]
    for v in versions:
        base = layout.blender_config_root / v / "extensions" / REPO / ext.id
        actions += [WriteFile(base.joinpath(*PurePosixPath(n).parts), data, COMPONENT)
                    for n, data in ext.members()]
    if versions:
        notes.append(f"Blender {', '.join(versions)}: {ext.name} is in place; enable it once "
                     "in Edit > Preferences > Add-ons (search 'Kling')")
    else:
        notes.append(f"no Blender 4.2 or newer found: in Blender, Edit > Preferences > Get "
                     f"Extensions > (menu) Install from Disk..., and pick {zip_path}")
    return Plan(actions=tuple(actions), notes=tuple(notes), components=(COMPONENT,))
