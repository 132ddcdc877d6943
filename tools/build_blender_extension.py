"""Build the Blender extension zip from plugins/blender_vse/.

    python tools/build_blender_extension.py [--out DIR]     # -> DIR/kling_bridge-<version>.zip
    python tools/build_blender_extension.py --check         # the shipped client copy is current?

First the daemon's stdlib client (daemon/kling_bridge/client.py, the one source) is copied
into the extension as ``client.py``; then the extension's files go into a zip with the
manifest at its root, the layout ``blender --command extension validate`` and
``extension install-file`` expect. Standard library only; the zip is written under a
temporary name and renamed.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "plugins" / "blender_vse"
CLIENT = ROOT / "daemon" / "kling_bridge" / "client.py"
SHIPPED_CLIENT = SOURCE / "client.py"
SKIP_DIRS = {"__pycache__", ".git", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".zip", ".blend1"}


def manifest_value(key: str) -> str:
    text = (SOURCE / "blender_manifest.toml").read_text(encoding="utf-8")
    match = re.search(r'^' + re.escape(key) + r'\s*=\s*"([^"]+)"', text, re.M)
    if match is None:
        raise SystemExit(f"blender_manifest.toml has no {key}")
    return match.group(1)


def client_is_current() -> bool:
    return SHIPPED_CLIENT.is_file() and filecmp.cmp(CLIENT, SHIPPED_CLIENT, shallow=False)


def sync_client() -> bool:
    """Copy the client in; True when the copy changed."""
    if client_is_current():
        return False
    shutil.copyfile(CLIENT, SHIPPED_CLIENT)
    return True


def files() -> list[Path]:
    out = []
    for folder, dirs, names in os.walk(SOURCE):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(names):
            path = Path(folder) / name
            if path.suffix not in SKIP_SUFFIXES and not name.startswith("."):
                out.append(path)
    return out


def build(out_dir: Path) -> Path:
    sync_client()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest_value('id')}-{manifest_value('version')}.zip"
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in files():
                zf.write(path, path.relative_to(SOURCE).as_posix())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="folder for the zip")
    parser.add_argument("--check", action="store_true",
                        help="only check the shipped client copy is the daemon's client.py")
    args = parser.parse_args(argv)
    if args.check:
        if client_is_current():
            print("plugins/blender_vse/client.py is current")
            return 0
        print("plugins/blender_vse/client.py differs from daemon/kling_bridge/client.py: run "
              "python tools/build_blender_extension.py", file=sys.stderr)
        return 1
    print(build(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
