"""The bridge as users get it: a wheel and an sdist from ``python -m build``, installed with
pipx, and on Linux the whole path in a temporary HOME -- bootstrap script, install, the
daemon started the way the unit's ExecStart starts it answering ``/v1/health``, uninstall
leaving the home exactly as it was.

There is no systemd user manager under the tests (nor should a test enable a real service):
the environment carries no session bus, so ``systemctl --user`` cannot reach one, and the
installer's "starts at your next login" note is asserted instead.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kling_bridge import __version__
from kling_bridge.client import BridgeClient
from kling_bridge.installer.blender import Extension
from tests.installer.conftest import (
    extension_name,
    make_standin_plugins,
    resolve_files,
    snapshot,
)

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="the bootstrap end to end is Linux's"),
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the sources"),
]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """A login-like environment for a new user: no session bus, no XDG overrides, no venv."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KLING_", "XDG_", "PYENV", "VIRTUAL_ENV", "DBUS_", "BLENDER"))}
    real_pip_conf = Path.home() / ".config" / "pip" / "pip.conf"
    if real_pip_conf.is_file():  # the machine's package-index settings, as the user has them
        env["PIP_CONFIG_FILE"] = str(real_pip_conf)
    env.update(HOME=str(home), PATH="/usr/local/bin:/usr/bin:/bin",
               PIP_CACHE_DIR=str(Path.home() / ".cache" / "pip"), **extra)
    return env


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """Wheel + sdist of this tree, built once per run (shared by the xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if worker_id != "master" else base
    out = shared / "kling-dist"
    with locked(shared / "kling-dist.lock"):
        if (out / ".done").exists():
            return out
        src = shared / "kling-src"
        shutil.rmtree(src, ignore_errors=True)
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], cwd=REPO, capture_output=True,
                                check=True).stdout.decode().split("\0")
        for rel in filter(None, listed):
            if (REPO / rel).is_file():
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / rel, src / rel)
        if not (src / "plugins").is_dir():  # until the real plugins land on this branch
            make_standin_plugins(src)
        done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(src)],
                              capture_output=True, text=True, timeout=900,
                              env=user_env(shared / "build-home"))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        (out / ".done").touch()
    return out


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_wheel_and_sdist_carry_the_plugins_and_the_wheel_installs_with_pipx(
        dist: Path, tmp_path: Path) -> None:
    wheel, sdist = only(dist, "*.whl"), only(dist, "*.tar.gz")
    plugins = dist.parent / "kling-src" / "plugins"  # what was built: real or stand-in
    menus, lib = resolve_files(plugins)
    ext_id, zip_name = extension_name(plugins)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        shipped = zf.read(f"kling_bridge/host_plugins/blender/{zip_name}")
    host = "kling_bridge/host_plugins/"
    expected = {"kling_bridge/__main__.py", "kling_bridge/installer/apply.py",
                "kling_bridge/client.py", f"{host}blender/{zip_name}"}
    expected |= {f"{host}resolve/Scripts/{m}" for m in menus}
    expected |= {f"{host}resolve/{f}" for f in lib}
    assert expected <= names, expected - names
    assert {n for n in names if n.startswith(host)} == {n for n in expected
                                                          if n.startswith(host)}
    assert Extension.from_zip(zip_name, shipped).id == ext_id
    assert not any("__pycache__" in n for n in names)
    top = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as tf:
        members = set(tf.getnames())
    for name in ("setup.py", "installer/install.sh", "installer/install.ps1",
                 "tools/build_blender_extension.py", "plugins/blender_vse/blender_manifest.toml",
                 *(f"plugins/resolve/Scripts/{m}" for m in menus)):
        assert f"{top}/{name}" in members, name

    home = tmp_path / "home"
    home.mkdir()
    env = user_env(home, PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "bin"))
    done = subprocess.run([sys.executable, "-m", "pipx", "install", str(wheel)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    exe = tmp_path / "bin" / "kling-bridge"
    version = subprocess.run([str(exe), "--version"], env=env, capture_output=True, text=True)
    assert version.stdout.strip() == f"kling-bridge {__version__}"
    plan = subprocess.run([str(exe), "install", "--resolve", "--blender", "--dry-run"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr
    scripts = home / ".local/share/DaVinciResolve/Fusion/Scripts/Utility"
    assert str(scripts) in plan.stdout and zip_name in plan.stdout
    assert not (home / ".local/share/DaVinciResolve").exists()  # a dry run writes nothing
    # The plugins came from the installed package, not from this checkout.
    venv_python = next((tmp_path / "pipx" / "venvs").glob("kling-bridge/bin/python"))
    root = subprocess.run([str(venv_python), "-c", "from kling_bridge.installer import sources;"
                           " print(sources.plugins_root({}))"], env=env, capture_output=True,
                          text=True).stdout.strip()
    assert root.startswith(str(tmp_path / "pipx")) and root.endswith("host_plugins")


def unit_lines(unit: str, key: str) -> list[str]:
    return [ln.split("=", 1)[1] for ln in unit.splitlines() if ln.startswith(key + "=")]


def test_bootstrap_install_health_uninstall_in_a_temporary_home(dist: Path,
                                                                 tmp_path: Path) -> None:
    home = tmp_path / "home"
    for d in (".config", ".local/share", ".local/state", ".cache", "Videos"):
        (home / d).mkdir(parents=True)
    before = snapshot(home)
    base_python = getattr(sys, "_base_executable", sys.executable)
    env = user_env(home, PYTHON=base_python, KLING_BRIDGE_SOURCE=str(only(dist, "*.whl")))
    script = REPO / "installer" / "install.sh"

    boot = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert boot.returncode == 0, boot.stdout[-3000:] + boot.stderr[-3000:]
    assert "no systemd user manager is reachable" in boot.stdout  # and none was touched
    unit_file = home / ".config/systemd/user/kling-bridge.service"
    assert (home / ".config/systemd/user/default.target.wants/kling-bridge.service"
            ).resolve() == unit_file
    assert (home / ".local/share/DaVinciResolve/Fusion/Scripts/Edit").is_dir()
    assert list((home / ".local/share/kling-bridge/installed").glob("*.zip"))
    assert os.readlink(home / ".local/bin/kling-bridge").startswith(
        str(home / ".local/share/kling-bridge-venv"))

    unit = unit_file.read_text()
    if shutil.which("systemd-analyze"):
        runtime = tmp_path / "run"
        runtime.mkdir(mode=0o700)
        verify = subprocess.run(["systemd-analyze", "--user", "--man=no", "verify",
                                 str(unit_file)], capture_output=True, text=True,
                                env={**env, "XDG_RUNTIME_DIR": str(runtime)}, timeout=60)
        assert verify.returncode == 0 and unit_file.name not in verify.stderr, verify.stderr

    # Start the daemon as systemd would: ExecStart's argv, Environment=, stdout appended.
    argv = shlex.split(unit_lines(unit, "ExecStart")[0])
    assert argv[0].startswith(str(home / ".local/share/kling-bridge-venv/bin/"))
    service_env = {"HOME": str(home), "LANG": "C.UTF-8"}
    for value in unit_lines(unit, "Environment"):
        key, _, val = shlex.split(value)[0].partition("=")
        service_env[key] = val
    log = Path(unit_lines(unit, "StandardOutput")[0].removeprefix("append:"))
    assert log == home / ".local/state/kling-bridge/log/service.log"
    config = home / ".config/kling-bridge/config.toml"
    config.write_text("[server]\nport = 0\n")  # parallel test runs must not share a port
    with open(log, "ab") as out:
        daemon = subprocess.Popen(argv, env=service_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        discovery = home / ".config/kling-bridge/daemon.json"
        deadline = time.monotonic() + 60
        while not discovery.exists() and daemon.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert discovery.exists(), log.read_text()[-2000:]
        health = BridgeClient.discover(str(discovery), timeout=30).health()
        assert health["version"] == __version__ and health["provider"] == "draft"
    finally:
        daemon.send_signal(signal.SIGTERM)  # systemctl stop
        assert daemon.wait(timeout=60) == 0
    assert (home / ".local/state/kling-bridge/log/kling-bridge.log").is_file()

    gone = subprocess.run(["sh", str(script), "--purge"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert gone.returncode == 0, gone.stdout[-3000:] + gone.stderr[-3000:]
    assert snapshot(home) == before
