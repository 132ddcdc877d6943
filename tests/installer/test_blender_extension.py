"""The Blender part in Blender: the zip validates with Blender's own tool, installs with
``blender --command extension install-file`` (Blender's handler, in the ``bpy`` wheel), loads
and runs, a second install runs nothing, and uninstall removes it through Blender again.
Without a Blender program, the unpacked extension is found by Blender at its next start.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from kling_bridge.installer import sources
from kling_bridge.installer.blender import Extension
from kling_bridge.installer.verbs import do_install, do_uninstall
from tests.installer.bpy_blender import blender_ext_script, make_blender, python_for, ready_series
from tests.installer.conftest import fake_home, snapshot

SERIES = ready_series()
pytestmark = pytest.mark.skipif(
    not SERIES, reason="no bpy venv ready (tools/bpy-venvs.sh 4.5 5.2 makes them, ~370 MB each)")
LOADS = """
import sys
import bpy  # first: it puts addon_utils on the path
import addon_utils
name = "bl_ext.user_default." + sys.argv[1]
names = {m.__name__ for m in addon_utils.modules()}
assert name in names, sorted(n for n in names if n.startswith("bl_ext"))
assert addon_utils.enable(name, default_set=True, handle_error=None) is not None
assert addon_utils.check(name) == (True, True), addon_utils.check(name)
addon_utils.disable(name, default_set=True)
print("LOADED", name, bpy.app.version_string)
"""


@pytest.fixture(scope="module")
def extension(plugins_tree: Path) -> Extension:
    return sources.blender_extension(plugins_tree, Path(sys.executable))


def loads_in_bpy(series: str, user_resources: Path, ext_id: str) -> str:
    """Enable the installed extension in a fresh Blender (register runs), then disable it."""
    with tempfile.TemporaryDirectory() as scratch:  # Blender's own caches go to $HOME
        done = subprocess.run([str(python_for(series)), "-c", LOADS, ext_id],
                              capture_output=True, text=True, timeout=120,
                              env={"BLENDER_USER_RESOURCES": str(user_resources),
                                   "PATH": "/usr/bin", "HOME": scratch})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("series", SERIES)
def test_the_zip_passes_blenders_own_validation(series: str, extension: Extension,
                                                tmp_path: Path) -> None:
    tool = [str(python_for(series)), str(blender_ext_script(series)), "validate"]
    good = tmp_path / extension.filename
    good.write_bytes(extension.data)
    done = subprocess.run([*tool, str(good)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    # The validator can say no: the same zip with a tagline Blender refuses.
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(io.BytesIO(extension.data)) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "blender_manifest.toml":
                data = data.replace(b'tagline = "', b'tagline = "Ends with a full stop. ')
                data = data.replace(b'Sequencer"', b'Sequencer."')
            dst.writestr(info, data)
    assert subprocess.run([*tool, str(bad)], capture_output=True, timeout=60).returncode != 0


@pytest.mark.parametrize("series", SERIES)
def test_installed_by_blender_loads_then_uninstall_removes_it(
        series: str, tmp_path: Path, plugins_tree: Path, extension: Extension,
        monkeypatch: pytest.MonkeyPatch) -> None:
    layout = fake_home(tmp_path, "linux", plugins_tree)
    make_blender(tmp_path / "bin", series)  # the layout's PATH is tmp_path/bin
    resources = tmp_path / "blender-user"
    monkeypatch.setenv("BLENDER_USER_RESOURCES", str(resources))
    package = resources / "extensions" / "user_default" / extension.id

    out = do_install(["blender"], layout=layout)
    assert not out.failures, out.render("install")
    assert any("install-file" in w for _, v, w in out.lines if v == "run")
    assert (package / "blender_manifest.toml").is_file()
    assert (resources / "config" / "userpref.blend").is_file()  # enabled, saved by Blender
    assert "LOADED" in loads_in_bpy(series, resources, extension.id)

    again = do_install(["blender"], layout=layout)
    assert not again.changed() and "run" not in again.verbs()

    gone = do_uninstall(layout=layout)
    assert not gone.failures and not gone.notes, gone.render("uninstall")
    assert any(f"extension remove user_default.{extension.id}" in w for _, _, w in gone.lines)
    assert not package.exists()
    assert not (layout.staging_dir).exists() and not layout.manifest_file.exists()


@pytest.mark.parametrize("series", SERIES[:1])
def test_without_a_blender_program_it_waits_unpacked_where_blender_looks(
        series: str, tmp_path: Path, plugins_tree: Path, extension: Extension) -> None:
    layout = fake_home(tmp_path, "linux", plugins_tree)
    version_dir = layout.home / ".config" / "blender" / series
    (version_dir / "config").mkdir(parents=True)  # Blender has run here once
    (layout.home / ".config" / "blender" / "3.6").mkdir()  # too old for extensions: left alone
    before = snapshot(tmp_path)
    out = do_install(["blender"], layout=layout)
    assert "run" not in out.verbs()
    assert any("Preferences > Add-ons" in n for n in out.notes)
    assert (version_dir / "extensions/user_default" / extension.id / "__init__.py").is_file()
    assert not (layout.home / ".config/blender/3.6/extensions").exists()
    assert "LOADED" in loads_in_bpy(series, version_dir, extension.id)
    do_uninstall(layout=layout)
    after = snapshot(tmp_path)
    # Blender itself may have written its caches when it loaded the extension.
    assert {k: v for k, v in after.items() if "/extensions/" not in k and
            not k.endswith("/extensions")} == before
    assert not (version_dir / "extensions/user_default" / extension.id).exists()
