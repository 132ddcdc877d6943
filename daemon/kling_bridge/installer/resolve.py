"""DaVinci Resolve: the plugin's scripts in the per-user Scripts folders (Edit and Utility).

Resolve lists every script in ``Fusion/Scripts/<Menu>`` under Workspace > Scripts; the Edit
menu shows on the Edit page, Utility on every page. Each menu folder gets the whole payload
(entry scripts, the plugin's own modules and its copy of the bridge's client), because a
script imports its modules from its own folder. The folders are created when Resolve has
never run, so the scripts are there the first time it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from .layout import RESOLVE_MENUS, Layout
from .plan import Plan, WriteFile

COMPONENT = "resolve"


def resolve_plan(layout: Layout, files: Sequence[tuple[str, bytes]],
                 resolve_seen: bool) -> Plan:
    """``files`` are (path relative to a menu folder, bytes), as the plugin's build lists them.

    ``resolve_seen`` (one of ``layout.resolve_installed_markers`` exists) only changes the
    message: the scripts go in either way.
    """
    if not files:
        return Plan(notes=("the Resolve plugin has no files to install",),
                    components=(COMPONENT,))
    actions: list[WriteFile] = []
    for menu in RESOLVE_MENUS:
        for rel, data in files:
            parts = PurePosixPath(rel).parts
            if PurePosixPath(rel).is_absolute() or ".." in parts:
                raise ValueError(f"Resolve payload path {rel!r} leaves the Scripts folder")
            actions.append(WriteFile(layout.resolve_scripts.joinpath(menu, *parts), data,
                                     COMPONENT))
    entries = sorted(PurePosixPath(r).stem for r, _ in files
                     if "/" not in r and r.endswith((".py", ".lua")) and not r.startswith("_")
                     and PurePosixPath(r).stem[:1].isupper())
    where = ", ".join(entries) if entries else "the Kling scripts"
    note = (f"DaVinci Resolve: Workspace > Scripts > Utility (any page) or Edit lists {where}"
            if resolve_seen else
            f"DaVinci Resolve was not found; its scripts are in place in {layout.resolve_scripts}"
            " for when it is installed (Workspace > Scripts)")
    return Plan(actions=tuple(actions), notes=(note,), components=(COMPONENT,))
