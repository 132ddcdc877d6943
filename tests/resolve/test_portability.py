"""Resolve runs the plugin in whatever Python the editor has (3.6 on older Resolve setups):
every file in plugins/resolve must be Python 3.6 syntax and import only the standard
library, Resolve's own module and the plugin itself; the shipped client is the daemon's."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PLUGIN, ROOT, interpreter

FILES = sorted(PLUGIN.rglob("*.py"))
RESOLVE_MODULES = {"DaVinciResolveScript", "fusionscript"}
OWN = {"kling_bridge_resolve"}


def test_there_is_something_to_check() -> None:
    names = {f.relative_to(PLUGIN).as_posix() for f in FILES}
    assert "kling_bridge_resolve/host.py" in names
    assert "Scripts/Edit/Kling Bridge - Restyle.py" in names
    assert len(FILES) >= 15


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(PLUGIN).as_posix())
def test_python36_grammar_and_stdlib_imports(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, str(path), feature_version=(3, 6))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module != "__future__" or all(
                a.name != "annotations" for a in node.names), "3.7+: __future__.annotations"
            if node.level:
                continue  # the plugin's own modules
            top = (node.module or "").split(".")[0]
        elif isinstance(node, ast.Import):
            tops = {a.name.split(".")[0] for a in node.names}
            bad = {t for t in tops if t not in sys.stdlib_module_names | RESOLVE_MODULES | OWN}
            assert not bad, f"{path.name} imports {bad}: Resolve's Python does not have it"
            continue
        else:
            assert not isinstance(node, ast.NamedExpr), "3.8+: the walrus operator"
            assert not (isinstance(node, ast.arguments) and node.posonlyargs), "3.8+: '/'"
            assert not (isinstance(node, ast.JoinedStr) and "=}" in ast.unparse(node)), \
                "3.8+: f'{x=}'"
            continue
        assert top in sys.stdlib_module_names | RESOLVE_MODULES | OWN, \
            f"{path.name} imports {top!r}: Resolve's Python does not have it"


def test_real_python36_compiles_and_imports_every_module(tmp_path: Path) -> None:
    """Not just the grammar: the modules import under a real 3.6 (typing names etc.)."""
    python = interpreter("python3.6")
    if python is None:
        pytest.skip("python3.6 is not installed here (pyenv install 3.6)")
    modules = sorted(p.stem for p in (PLUGIN / "kling_bridge_resolve").glob("*.py"))
    code = ("import sys, py_compile, glob\n"
            f"sys.path.insert(0, {str(PLUGIN)!r})\n"
            f"for f in glob.glob({str(PLUGIN / '**' / '*.py')!r}, recursive=True):\n"
            f"    py_compile.compile(f, cfile={str(tmp_path / 'x.pyc')!r}, doraise=True)\n"
            "import importlib\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module('kling_bridge_resolve.' + m if m != '__init__' "
            "else 'kling_bridge_resolve')\n"
            "print('ok', sys.version_info[:2])\n")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ok (3, 6)" in done.stdout


def test_the_shipped_client_is_the_daemons() -> None:
    """plugins/resolve/kling_bridge_resolve/client.py is a copy made by sync_client.py."""
    done = subprocess.run([sys.executable, str(PLUGIN / "sync_client.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    copy = (PLUGIN / "kling_bridge_resolve" / "client.py").read_text()
    assert copy.endswith((ROOT / "daemon" / "kling_bridge" / "client.py").read_text())


def test_sync_check_notices_a_changed_copy(tmp_path: Path) -> None:
    plugin = tmp_path / "plugins" / "resolve"
    (plugin / "kling_bridge_resolve").mkdir(parents=True)
    (tmp_path / "daemon" / "kling_bridge").mkdir(parents=True)
    (tmp_path / "daemon" / "kling_bridge" / "client.py").write_text("API = '/v1'\n")
    script = plugin / "sync_client.py"
    script.write_text((PLUGIN / "sync_client.py").read_text())
    check = [sys.executable, str(script), "--check"]
    assert subprocess.run(check, capture_output=True).returncode == 1  # no copy yet
    assert subprocess.run([sys.executable, str(script)], capture_output=True).returncode == 0
    assert subprocess.run(check, capture_output=True).returncode == 0
    (plugin / "kling_bridge_resolve" / "client.py").write_text("edited by hand\n")
    assert subprocess.run(check, capture_output=True).returncode == 1


def test_entry_scripts_are_a_few_lines_that_hand_over_to_the_library() -> None:
    for path in sorted((PLUGIN / "Scripts").rglob("*.py")):
        code = [line for line in path.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
        body = code[code.index('"""', 1) + 1:] if code[0].startswith('"""') else code
        assert len(body) <= 24, f"{path.name}: keep the in-host shim short"
        assert body[-1].startswith("kling_bridge_resolve.run(")


def test_resolve_is_called_from_host_py_only() -> None:
    """Resolve's API names are CamelCase calls (``GetStart()``); outside host.py (and
    window.py, Fusion's UI Manager window) only the plugin's own classes may look like that
    (``placement.Prompt(...)``)."""
    for path in sorted((PLUGIN / "kling_bridge_resolve").glob("*.py")):
        if path.name in ("host.py", "window.py", "client.py"):
            continue
        tree = ast.parse(path.read_text())
        own_modules = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                       and n.level for a in n.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr[:1].isupper():
                receiver = node.func.value
                assert isinstance(receiver, ast.Name) and receiver.id in own_modules, \
                    f"{path.name}:{node.lineno} calls {node.func.attr}(): put it in host.py"
