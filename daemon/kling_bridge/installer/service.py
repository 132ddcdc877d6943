"""The daemon as a per-user service that starts at login, one recipe per OS.

- Linux: a systemd *user* unit, enabled the way ``systemctl --user enable`` does it (a link
  in ``default.target.wants``) so it also works where no user manager is reachable now
  (containers, WSL, SSH sessions): it starts at the next login.
- macOS: a launchd agent in ``~/Library/LaunchAgents`` (loaded with ``launchctl bootstrap``).
- Windows: a ``.cmd`` in the user's Startup folder that starts ``pythonw`` hidden. Chosen
  over Task Scheduler because a logon task needs administrator rights on many machines;
  the Startup folder never does.

Every recipe runs ``<the bridge's python> -m kling_bridge serve`` with the PATH that has
ffmpeg on it (services start with a bare PATH) and ``KLING_BRIDGE_HOME`` if the user set
one, and sends its stdout/stderr to ``service.log`` in the user's log folder, beside the
daemon's own log. The bridge's version is written into each file, so an upgrade changes the
file and restarts the service; an unchanged one restarts nothing.
"""

from __future__ import annotations

import plistlib
from pathlib import Path

from .. import __version__
from .layout import LAUNCHD_LABEL, SERVICE_NAME, Layout
from .plan import Command, Plan, Symlink, WriteFile

COMPONENT = "service"
SYSTEM_PATH = {
    "linux": ["/usr/local/bin", "/usr/bin", "/bin"],
    "macos": ["/opt/homebrew/bin", "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"],
}
HEADER = (f"kling-bridge {__version__}: the kling-bridge daemon, started at login. "
          "Written by 'kling-bridge install'; 'kling-bridge uninstall' removes it.")


def daemon_argv(layout: Layout) -> list[str]:
    """How the service starts the daemon (the tests start it the same way)."""
    return [str(service_python(layout)), "-m", "kling_bridge", "serve"]


def service_python(layout: Layout) -> Path:
    """On Windows the console-less ``pythonw.exe`` beside the interpreter, when there is one."""
    if layout.os == "windows":
        w = layout.python.with_name("pythonw.exe")
        if w.exists():
            return w
    return layout.python


def service_env(layout: Layout) -> dict[str, str]:
    env: dict[str, str] = {}
    home = layout.env.get("KLING_BRIDGE_HOME", "").strip()
    if home:
        env["KLING_BRIDGE_HOME"] = home
    if layout.os != "windows":
        dirs = [str(d) for d in layout.path_dirs] + SYSTEM_PATH[layout.os]
        env["PATH"] = ":".join(dict.fromkeys(dirs))
    return env


# ---------------------------------------------------------------- Linux: systemd


def _sd_escape(value: str) -> str:
    """systemd unit syntax: ``%`` starts a specifier, ``$`` a variable, quotes group words."""
    return value.replace("%", "%%").replace("$", "$$")


def _sd_quote(value: str) -> str:
    return '"' + _sd_escape(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(layout: Layout) -> str:
    lines = [
        f"# {HEADER}",
        "[Unit]",
        "Description=kling-bridge daemon (Kling video models for your editor)",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_sd_quote(a) for a in daemon_argv(layout)),
    ]
    lines += [f"Environment={_sd_quote(f'{k}={v}')}" for k, v in service_env(layout).items()]
    lines += [
        "Restart=on-failure",
        "RestartSec=10",
        f"StandardOutput=append:{_sd_escape(str(layout.service_log))}",
        "StandardError=inherit",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def _systemd_plan(layout: Layout) -> Plan:
    unit = layout.service_file
    link = layout.systemd_wants_link
    name = f"{SERVICE_NAME}.service"
    no_manager = ("no systemd user manager is reachable here: the service is enabled and "
                  "starts at your next login; to start the daemon now run 'kling-bridge serve'")
    return Plan(
        actions=(
            WriteFile(unit, systemd_unit(layout).encode(), COMPONENT),
            Symlink(link, f"../{unit.name}", COMPONENT),
        ),
        commands=(
            Command(("systemctl", "--user", "daemon-reload"), "reload systemd's units",
                    COMPONENT, when="changed", optional=True, fail_note=no_manager),
            Command(("systemctl", "--user", "restart", name), "start the new daemon",
                    COMPONENT, when="changed", optional=True, fail_note=no_manager),
            Command(("systemctl", "--user", "start", name), "make sure the daemon runs",
                    COMPONENT, optional=True, fail_note=no_manager),
        ),
        undo=(
            Command(("systemctl", "--user", "stop", name), "stop the daemon", COMPONENT,
                    optional=True, fail_note=""),
            Command(("systemctl", "--user", "daemon-reload"), "forget the unit", COMPONENT,
                    optional=True, fail_note="", after_removal=True),
        ),
        ensure_dirs=((layout.bridge.log_dir, COMPONENT),),
        components=(COMPONENT,),
    )


# ---------------------------------------------------------------- macOS: launchd


def launchd_plist(layout: Layout) -> bytes:
    log = str(layout.service_log)
    data: dict[str, object] = {
        "Label": LAUNCHD_LABEL,
        "Comment": HEADER,
        "ProgramArguments": daemon_argv(layout),
        "EnvironmentVariables": service_env(layout),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 10,
        "StandardOutPath": log,
        "StandardErrorPath": log,
    }
    return plistlib.dumps(data, fmt=plistlib.FMT_XML, sort_keys=False)


def _launchd_plan(layout: Layout) -> Plan:
    domain = f"gui/{layout.uid if layout.uid is not None else 501}"
    target = f"{domain}/{LAUNCHD_LABEL}"
    plist = layout.service_file
    return Plan(
        actions=(WriteFile(plist, launchd_plist(layout), COMPONENT),),
        commands=(
            Command(("launchctl", "bootout", target), "unload the previous agent", COMPONENT,
                    when="changed", optional=True, fail_note=""),
            Command(("launchctl", "bootstrap", domain, str(plist)), "load the agent",
                    COMPONENT, when="changed", optional=True,
                    fail_note="launchctl could not load the agent now; it starts at your next "
                    "login (or run 'kling-bridge serve')"),
            Command(("launchctl", "kickstart", target), "make sure the daemon runs",
                    COMPONENT, optional=True, fail_note=""),
        ),
        undo=(Command(("launchctl", "bootout", target), "stop and unload the agent",
                      COMPONENT, optional=True, fail_note=""),),
        ensure_dirs=((layout.bridge.log_dir, COMPONENT),),
        components=(COMPONENT,),
    )


# ---------------------------------------------------------------- Windows: Startup folder


def _cmd_quote(value: str) -> str:
    return '"' + value.replace("%", "%%") + '"'


def startup_cmd(layout: Layout) -> str:
    argv = daemon_argv(layout)
    lines = ["@echo off", f"rem {HEADER}"]
    lines += [f'set "{k}={v.replace("%", "%%")}"' for k, v in service_env(layout).items()]
    if layout.path_dirs:
        dirs = ";".join(str(d).replace("%", "%%") for d in layout.path_dirs)
        lines.append(f'set "PATH={dirs};%PATH%"')
    lines.append(f'start "kling-bridge" /b {_cmd_quote(argv[0])} {" ".join(argv[1:])} '
                 f">> {_cmd_quote(str(layout.service_log))} 2>&1")
    return "\r\n".join(lines) + "\r\n"


def _startup_plan(layout: Layout) -> Plan:
    entry = layout.service_file
    stop = (str(layout.python), "-m", "kling_bridge.installer.stopper")
    return Plan(
        actions=(WriteFile(entry, startup_cmd(layout).encode("utf-8"), COMPONENT),),
        commands=(
            Command(stop, "stop the previous daemon", COMPONENT, when="changed",
                    optional=True, fail_note=""),
            # Start-Process (ShellExecute) so the daemon inherits none of our handles: a
            # child holding the installer's output pipes would keep it waiting.
            Command(("powershell", "-NoProfile", "-NonInteractive", "-Command",
                     "Start-Process -WindowStyle Hidden -FilePath "
                     f"'{str(entry).replace(chr(39), chr(39) * 2)}'"),
                    "start the daemon now", COMPONENT,
                    when="changed", optional=True,
                    fail_note="could not start the daemon now; it starts at your next logon "
                    "(or run 'kling-bridge serve')"),
        ),
        undo=(Command(stop, "stop the daemon", COMPONENT, optional=True, fail_note=""),),
        ensure_dirs=((layout.bridge.log_dir, COMPONENT),),
        components=(COMPONENT,),
    )


def service_plan(layout: Layout) -> Plan:
    return {"linux": _systemd_plan, "macos": _launchd_plan,
            "windows": _startup_plan}[layout.os](layout)
