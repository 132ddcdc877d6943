"""``kling-bridge install`` and ``uninstall``: gather a plan from the components, apply it.

This is the edge where the installer looks at the real machine -- which Blender is here,
whether Resolve ever ran, what the plugins' builds produce -- and hands plain data to the
pure planners (:mod:`.service`, :mod:`.resolve`, :mod:`.blender`).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..config import APP
from . import apply, blender, resolve, service, sources
from .layout import Layout
from .plan import COMPONENTS, Outcome, Plan, combine


def blender_candidates(layout: Layout) -> list[Path]:
    """``$BLENDER``, then ``blender`` on PATH, then the usual install places."""
    out: list[Path] = []
    if layout.env.get("BLENDER"):
        out.append(Path(layout.env["BLENDER"]))
    on_path = shutil.which("blender", path=layout.env.get("PATH"))
    if on_path:
        out.append(Path(on_path))
    return out + list(layout.blender_candidates())


def gather(layout: Layout, components: Iterable[str],
           runner: apply.Runner = apply.run_subprocess) -> Plan:
    wanted = [c for c in COMPONENTS if c in set(components)]
    plans: list[Plan] = []
    root = sources.plugins_root(layout.env) if {"resolve", "blender"} & set(wanted) else None
    for comp in wanted:
        if comp == "service":
            plans.append(service.service_plan(layout))
        elif comp == "resolve" and root is not None:
            menus, lib = sources.resolve_payload(root)
            seen = any(m.exists() for m in layout.resolve_installed_markers)
            plans.append(resolve.resolve_plan(layout, menus, lib, seen))
        elif comp == "blender" and root is not None:
            ext = sources.blender_extension(root, layout.python)

            def version_of(exe: Path) -> str:
                code, words = runner([str(exe), "--version"])
                return words if code == 0 else ""

            found = blender.find_blender(layout, blender_candidates(layout), version_of)
            plans.append(blender.blender_plan(layout, ext, found,
                                              blender.config_versions(layout)))
    return combine(plans)


def do_install(components: Sequence[str], *, dry_run: bool = False,
               layout: Layout | None = None,
               runner: apply.Runner = apply.run_subprocess) -> Outcome:
    layout = layout or Layout.detect()
    plan = gather(layout, components, runner)
    return apply.install(plan, layout, dry_run=dry_run, runner=runner)


def do_uninstall(components: Sequence[str] | None = None, *, dry_run: bool = False,
                 purge: bool = False, layout: Layout | None = None,
                 runner: apply.Runner = apply.run_subprocess) -> Outcome:
    layout = layout or Layout.detect()
    out = apply.uninstall(layout, components or None, dry_run=dry_run, runner=runner)
    if purge:
        _purge(layout, out, dry_run)
    return out


def _purge(layout: Layout, out: Outcome, dry_run: bool) -> None:
    """The bridge's own folders too -- except results an editor's timeline may point at."""
    paths = layout.bridge
    outputs = paths.outputs_dir
    keep_outputs = outputs.is_dir() and any(p.is_file() for p in outputs.rglob("*"))
    for folder in dict.fromkeys((paths.config_dir, paths.data_dir, paths.cache_dir,
                                 paths.log_dir)):
        if not folder.exists():
            continue
        out.add("purge", "remove folder", str(folder))
        if dry_run:
            continue
        if keep_outputs and outputs.is_relative_to(folder):
            for child in folder.iterdir():
                if child != outputs and not outputs.is_relative_to(child):
                    _rm(child)
        else:
            _rm(folder)
    if keep_outputs:
        out.notes.append(f"kept the results in {outputs}: timelines may use them; delete the "
                         "folder yourself when no project needs them")
    if dry_run:
        return
    # Parents that only held the bridge's folders: ~/.local/state/kling-bridge (the log
    # folder's), %LOCALAPPDATA%\kling-bridge, or the KLING_BRIDGE_HOME folder itself.
    root = layout.env.get("KLING_BRIDGE_HOME", "").strip()
    parents = {f.parent for f in (paths.config_dir, paths.data_dir, paths.cache_dir,
                                  paths.log_dir) if f.parent.name == APP}
    for parent in [*parents, *([Path(root)] if root else [])]:
        with contextlib.suppress(OSError):
            parent.rmdir()


def _rm(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
