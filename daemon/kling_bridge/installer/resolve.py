"""DaVinci Resolve: entry scripts in the per-user Scripts menus, the library beside the bridge.

The plugin (``plugins/resolve/``) has two parts, and each goes where the other expects it:

- ``Scripts/<Menu>/*.py`` -- a few lines each -- into Resolve's per-user
  ``Fusion/Scripts/<Menu>``: Resolve lists them under Workspace > Scripts (Edit on the Edit
  page, Utility on every page). Created when Resolve has never run, so they are there the
  first time it does.
- ``kling_bridge_resolve/`` -- the library, with its copy of the bridge's client -- into
  the bridge's data folder (``.../kling-bridge/resolve``), one of the places the entry
  scripts search, so the menus list entry points only and the library exists once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from .layout import Layout
from .plan import Plan, WriteFile

COMPONENT = "resolve"
Files = Sequence[tuple[str, bytes]]


def _parts(rel: str) -> tuple[str, ...]:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"Resolve plugin path {rel!r} would leave its folder")
    return path.parts


def resolve_plan(layout: Layout, menus: Files, lib: Files, resolve_seen: bool) -> Plan:
    """``menus``: (``Menu/name.py``, bytes); ``lib``: (``kling_bridge_resolve/...``, bytes).

    ``resolve_seen`` (one of ``layout.resolve_installed_markers`` exists) only changes the
    message: the scripts go in either way.
    """
    if not menus:
        return Plan(notes=("the Resolve plugin has no scripts to install",),
                    components=(COMPONENT,))
    actions = [WriteFile(layout.resolve_scripts.joinpath(*_parts(rel)), data, COMPONENT)
               for rel, data in menus]
    actions += [WriteFile(layout.resolve_lib.joinpath(*_parts(rel)), data, COMPONENT)
                for rel, data in lib]
    listed: dict[str, list[str]] = {}
    for rel, _ in menus:
        parts = _parts(rel)
        if len(parts) == 2 and parts[1].endswith((".py", ".lua")):
            listed.setdefault(parts[0], []).append(PurePosixPath(parts[1]).stem)
    where = "; ".join(f"{menu}: {', '.join(sorted(names))}"
                      for menu, names in sorted(listed.items(), key=lambda kv: kv[0] != "Utility"))
    note = (f"DaVinci Resolve, Workspace > Scripts -- {where}" if resolve_seen else
            "DaVinci Resolve was not found; its scripts are in place for when it is "
            f"installed (Workspace > Scripts -- {where})")
    return Plan(actions=tuple(actions), notes=(note,), components=(COMPONENT,))
