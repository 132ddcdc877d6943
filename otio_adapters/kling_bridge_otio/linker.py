"""OTIO media linker: find the bridge's outputs again after a result timeline has moved.

A result timeline points at files in the bridge's outputs folder on the machine that made
them. Moved to another machine or folder, those paths are dead -- but every clip the bridge
added carries its job id (``metadata["kling_bridge"]["job_id"]``), and outputs live in a
folder per job. The linker looks, in order, in the ``search_paths`` given to it
(``-M search_paths=/a:/b``), in ``$KLING_BRIDGE_SEARCH_PATH`` and in the bridge's outputs
folder (``$KLING_BRIDGE_HOME/data/outputs`` or the per-user default), for:

1. ``<root>/<job id>/<file name>``, 2. ``<root>/<file name>``,
3. any file of that name below ``<root>`` in a folder named for the job id,
4. any file of that name below ``<root>`` (only when exactly one exists).

Clips that are not the bridge's, or whose file still exists, are left alone; so are the
``kling_bridge.<look>`` alternate references, which are relinked the same way. The new
reference keeps the old one's spelling (bare path for Resolve-shaped files, URL otherwise).

Usage: ``otioconvert -i moved.otio -o here.otio -m kling_bridge_relink -M search_paths=DIR``
or ``OTIO_DEFAULT_MEDIA_LINKER=kling_bridge_relink`` for every OTIO read.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import opentimelineio as otio

from kling_bridge.timeline.paths import path_from_url, same_style

KEY = "kling_bridge"


def link_media_reference(in_clip: Any, media_linker_argument_map: dict[str, Any] | None = None
                         ) -> Any:
    """OTIO's media-linker entry point: the (possibly relinked) active reference."""
    roots = search_roots((media_linker_argument_map or {}).get("search_paths"))
    refs = in_clip.media_references()
    active = in_clip.active_media_reference_key
    changed = False
    for key, ref in list(refs.items()):
        if key != active and not key.startswith(f"{KEY}."):
            continue
        job = _job_id(ref) or (_job_id(in_clip) if key == active else None)
        relinked = relink_reference(ref, job, roots) if job else None
        if relinked is not None:
            refs[key] = relinked
            changed = True
    if changed:
        in_clip.set_media_references(refs, active)
    return in_clip.media_reference


def relink_timeline(timeline: otio.schema.Timeline,
                    search_paths: Iterable[str] | str | None = None) -> otio.schema.Timeline:
    """A relinked copy of ``timeline`` (the same search as the linker, callable directly)."""
    result: otio.schema.Timeline = copy.deepcopy(timeline)
    arguments = {"search_paths": search_paths}
    for clip in result.find_clips():
        link_media_reference(clip, arguments)
    return result


def search_roots(given: Iterable[str] | str | None) -> list[str]:
    roots: list[str] = []
    if isinstance(given, str):
        roots.extend(given.split(os.pathsep))
    elif given:
        roots.extend(given)
    roots.extend(os.environ.get("KLING_BRIDGE_SEARCH_PATH", "").split(os.pathsep))
    roots.append(_outputs_dir())
    seen: list[str] = []
    for root in roots:
        if root and os.path.isdir(root) and root not in seen:
            seen.append(root)
    return seen


def relink_reference(ref: Any, job_id: str, roots: list[str]) -> Any | None:
    """A copy of ``ref`` pointing at the job's file found under ``roots``, or None."""
    url = getattr(ref, "target_url", "")
    old = path_from_url(url) if url else None
    if not old or os.path.exists(old):
        return None
    name = old.replace("\\", "/").rsplit("/", 1)[-1]
    for root in roots:
        found = _find(root, job_id, name)
        if found:
            new = copy.deepcopy(ref)
            new.target_url = same_style(url, found)
            return new
    return None


def _job_id(thing: Any) -> str | None:
    meta = thing.metadata.get(KEY) if hasattr(thing, "metadata") else None
    if isinstance(meta, Mapping) and meta.get("job_id"):
        return str(meta["job_id"])
    return None


def _find(root: str, job_id: str, name: str) -> str | None:
    for candidate in (os.path.join(root, job_id, name), os.path.join(root, name)):
        if os.path.isfile(candidate):
            return candidate
    matches = _index(root).get(name, ())
    in_job = [m for m in matches if job_id in m.replace("\\", "/").split("/")]
    if in_job:
        return in_job[0]
    return matches[0] if len(matches) == 1 else None


@lru_cache(maxsize=16)
def _index_cached(root: str, stamp: float) -> dict[str, tuple[str, ...]]:
    del stamp
    found: dict[str, list[str]] = {}
    for folder, _dirs, files in os.walk(root):
        for file in files:
            found.setdefault(file, []).append(os.path.join(folder, file))
    return {name: tuple(sorted(paths)) for name, paths in found.items()}


def _index(root: str) -> dict[str, tuple[str, ...]]:
    """File name -> paths below ``root``, rebuilt when the folder changes."""
    try:
        stamp = os.stat(root).st_mtime
    except OSError:
        return {}
    return _index_cached(root, stamp)


def _outputs_dir() -> str:
    """The bridge's outputs folder, by the bridge's own rule (``KLING_BRIDGE_HOME`` or the
    per-user data folder)."""
    from kling_bridge.paths import Paths

    return str(Paths.resolve().outputs_dir)
