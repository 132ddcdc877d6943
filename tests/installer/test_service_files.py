"""The service files each OS reads: systemd verifies the unit, plistlib reads the agent.

Paths with spaces and ``%`` (a user called "Ana %Maria" with a Python in "My Tools") are
where hand-written service files usually break, so every file is checked with them.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kling_bridge.installer import service
from kling_bridge.installer.layout import Layout, OSName
from tests.installer.conftest import fake_home


def awkward_layout(tmp_path: Path, os_name: OSName, plugins: Path) -> Layout:
    """A home and a Python whose paths hold a space and a percent sign."""
    base = tmp_path / "Ana %Maria"
    layout = fake_home(base, os_name, plugins, extra_env={"KLING_BRIDGE_HOME": ""})
    tools = tmp_path / "My Tools 100%"
    tools.mkdir()
    python = tools / "python3"
    python.symlink_to(sys.executable)
    return Layout(layout.os, layout.home, layout.env, python, layout.path_dirs, layout.uid)


def unit_value(unit: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(key + "=")]


def systemd_unquote(value: str) -> list[str]:
    """systemd's ExecStart= word splitting (C-style quotes), then its ``%%`` specifier."""
    return [w.replace("%%", "%") for w in shlex.split(value)]


def test_systemd_unit_says_what_the_service_runs(tmp_path: Path, plugins_tree: Path) -> None:
    layout = awkward_layout(tmp_path, "linux", plugins_tree)
    unit = service.systemd_unit(layout)
    argv = systemd_unquote(unit_value(unit, "ExecStart")[0])
    assert argv == [str(layout.python), "-m", "kling_bridge", "serve"]
    env = dict(w.split("=", 1) for v in unit_value(unit, "Environment")
               for w in systemd_unquote(v))
    assert env["PATH"].split(":")[0] == str(layout.path_dirs[0])
    assert unit_value(unit, "StandardOutput") == [
        "append:" + str(layout.service_log).replace("%", "%%")]
    assert str(layout.service_log).startswith(str(layout.home / ".local/state/kling-bridge/log"))
    assert unit_value(unit, "WantedBy") == ["default.target"]


def test_kling_bridge_home_travels_into_the_service(tmp_path: Path,
                                                     plugins_tree: Path) -> None:
    layout = fake_home(tmp_path, "linux", plugins_tree,
                       extra_env={"KLING_BRIDGE_HOME": str(tmp_path / "Project Drive")})
    unit = service.systemd_unit(layout)
    env = dict(w.split("=", 1) for v in unit_value(unit, "Environment")
               for w in systemd_unquote(v))
    assert env["KLING_BRIDGE_HOME"] == str(tmp_path / "Project Drive")
    assert layout.service_log == tmp_path / "Project Drive" / "logs" / "service.log"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not on this machine (Debian's 'systemd' "
                    "package has it); the unit's content is still checked above")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path, plugins_tree: Path) -> None:
    layout = awkward_layout(tmp_path, "linux", plugins_tree)
    unit_file = layout.service_file
    unit_file.parent.mkdir(parents=True)
    unit_file.write_text(service.systemd_unit(layout))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "HOME": str(layout.home), "XDG_RUNTIME_DIR": str(runtime),
           "XDG_CONFIG_HOME": str(layout.home / ".config"), "SYSTEMD_LOG_LEVEL": "notice"}

    def verify(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["systemd-analyze", "--user", "--man=no", "verify", str(path)],
                              capture_output=True, text=True, env=env, timeout=60)

    done = verify(unit_file)
    assert done.returncode == 0, done.stderr
    assert unit_file.name not in done.stderr, done.stderr  # no warning about our unit
    # The same check fails on a unit whose program is missing: it can tell.
    broken = unit_file.with_name("kling-broken.service")
    escaped = str(layout.python).replace("%", "%%")
    text = service.systemd_unit(layout)
    assert escaped in text
    broken.write_text(text.replace(escaped, "/nonexistent/py"))
    assert verify(broken).returncode != 0


def test_launchd_agent_parses_with_plistlib(tmp_path: Path, plugins_tree: Path) -> None:
    layout = awkward_layout(tmp_path, "macos", plugins_tree)
    agent = plistlib.loads(service.launchd_plist(layout))
    assert agent["Label"] == "kling-bridge.daemon"
    assert agent["ProgramArguments"] == [str(layout.python), "-m", "kling_bridge", "serve"]
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    log = layout.home / "Library" / "Logs" / "kling-bridge" / "service.log"
    assert agent["StandardOutPath"] == agent["StandardErrorPath"] == str(log)
    path = agent["EnvironmentVariables"]["PATH"].split(":")
    assert path[0] == str(layout.path_dirs[0]) and "/opt/homebrew/bin" in path
    assert layout.service_file == layout.home / "Library/LaunchAgents/kling-bridge.daemon.plist"


def test_windows_startup_entry_escapes_percent_and_quotes_paths(
        tmp_path: Path, plugins_tree: Path) -> None:
    layout = awkward_layout(tmp_path, "windows", plugins_tree)
    text = service.startup_cmd(layout)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    start = next(line for line in text.split("\r\n") if line.startswith("start "))
    assert f'"{str(layout.python).replace("%", "%%")}" -m kling_bridge serve' in start
    assert f'>> "{str(layout.service_log).replace("%", "%%")}" 2>&1' in start
    assert "%Maria" not in text.replace("%%", "")  # every literal % doubled
    assert layout.service_file.parent == (layout.home / "AppData/Roaming/Microsoft/Windows/"
                                          "Start Menu/Programs/Startup")


def test_windows_starts_the_entry_detached_with_the_path_quoted(
        tmp_path: Path, plugins_tree: Path) -> None:
    layout = fake_home(tmp_path / "O'Brien", "windows", plugins_tree)
    plan = service.service_plan(layout)
    start = next(c for c in plan.commands if c.argv[0] == "powershell")
    script = start.argv[-1]
    quoted = "'" + str(layout.service_file).replace("'", "''") + "'"
    assert script == f"Start-Process -WindowStyle Hidden -FilePath {quoted}"
    assert [c.argv[-1] for c in plan.undo] == ["kling_bridge.installer.stopper"]


def test_the_stopper_ends_the_daemon_named_in_the_discovery_file(tmp_path: Path) -> None:
    import json

    from kling_bridge.config import Paths
    from kling_bridge.installer.stopper import stop_daemon

    paths = Paths(tmp_path / "c", tmp_path / "d", tmp_path / "k", tmp_path / "l").ensure()
    assert stop_daemon(paths) == "no kling-bridge daemon is running"
    # Not our child (a daemon never is), or it would linger as a zombie after the signal.
    spawn = subprocess.run(["sh", "-c", f"'{sys.executable}' -c 'import time; time.sleep(120)'"
                            " >/dev/null 2>&1 & echo $!"], capture_output=True, text=True)
    pid = int(spawn.stdout)
    try:
        paths.discovery_file.write_text(json.dumps({"pid": pid, "port": 1}))
        assert stop_daemon(paths) == f"stopped the kling-bridge daemon (pid {pid})"
        assert not paths.discovery_file.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
