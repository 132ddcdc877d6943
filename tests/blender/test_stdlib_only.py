"""The Blender extension needs nothing Blender does not ship: the standard library and ``bpy``.

An editor installs it from a zip in Preferences; a third-party import would fail there (the
extension's manifest declares no wheels), so every import of every module is checked here.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parents[2] / "plugins" / "blender_vse"
BLENDER = {"bpy", "mathutils", "bpy_extras"}  # what Blender's own Python provides
MODULES = sorted(EXTENSION.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tops: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and not node.level:
            tops.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Import):
            tops |= {a.name.split(".")[0] for a in node.names}
    return tops


def test_the_extension_has_modules() -> None:
    assert len(MODULES) >= 5, MODULES  # guards the walk below against an empty folder


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_each_module_imports_only_the_standard_library_and_blender(path: Path) -> None:
    bad = _imports(path) - sys.stdlib_module_names - BLENDER
    assert not bad, f"{path.name} imports {sorted(bad)}: Blender does not ship them"
