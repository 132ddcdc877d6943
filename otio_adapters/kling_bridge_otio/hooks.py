"""The plugin's hooks: the bridge's read normalisation and write fixes inside OTIO's tools.

OTIO runs ``post_adapter_read`` after *every* read and ``pre_adapter_write`` before every
write in any process where this plugin is installed -- other people's code included -- so
both are careful: they never raise (a failure is logged and the timeline passes unchanged),
``post_adapter_read`` is idempotent, and ``pre_adapter_write`` works on a copy so the
caller's timeline is never touched.

What they do is exactly what ``kling_bridge.timeline`` does on its own reads and writes:
rates snapped, an EDL's record start made the timeline's start, provenance lifted back
from markers/comments; on write, provenance put where the target format keeps it, bare
paths made URLs, EDL start and reel names fixed. (``kling_bridge.timeline`` imports only
OpenTimelineIO, so loading it here stays light.)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import opentimelineio as otio

log = logging.getLogger("kling_bridge_otio")

#: file suffix -> adapter name, for ``pre_adapter_write`` (OTIO does not pass the adapter)
SUFFIX_FORMATS = {
    ".otio": "otio_json", ".otioz": "otioz", ".otiod": "otiod", ".xml": "fcp_xml",
    ".fcpxml": "fcpx_xml", ".edl": "cmx_3600", ".aaf": "AAF", ".ale": "ale",
}


def post_adapter_read(timeline: Any, argument_map: dict[str, Any] | None = None) -> Any:
    """Normalise host quirks on whatever OTIO just read (in place, idempotent)."""
    if not isinstance(timeline, otio.schema.Timeline) or _skipped(argument_map):
        return timeline
    try:
        from kling_bridge.timeline import quirks

        quirks.normalise(timeline)
    except Exception:  # never break someone else's read
        log.warning("kling_bridge post_adapter_read skipped", exc_info=True)
    return timeline


def pre_adapter_write(timeline: Any, argument_map: dict[str, Any] | None = None) -> Any:
    """A copy prepared for the target format, known from the output file's suffix."""
    if not isinstance(timeline, otio.schema.Timeline) or _skipped(argument_map):
        return timeline
    path = (argument_map or {}).get("_filepath")
    fmt = SUFFIX_FORMATS.get(os.path.splitext(str(path))[1].lower()) if path else None
    if fmt is None or fmt == "otio_json":
        return timeline
    try:
        from kling_bridge.timeline import writeback

        return writeback.prepare_for_write(timeline, fmt, ours=False)
    except Exception:
        log.warning("kling_bridge pre_adapter_write skipped", exc_info=True)
        return timeline


def post_adapter_write(timeline: Any, argument_map: dict[str, Any] | None = None) -> Any:
    """Finish what a stock writer cannot be told: an EDL's ``FCM`` line and non-drop
    timecode, and FCPXML at NTSC rates (re-rendered with the exact writer)."""
    path = (argument_map or {}).get("_filepath")
    if not isinstance(timeline, otio.schema.Timeline) or not path or _skipped(argument_map):
        return timeline
    fmt = SUFFIX_FORMATS.get(os.path.splitext(str(path))[1].lower())
    try:
        if fmt == "cmx_3600":
            from kling_bridge.timeline import writeback

            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            if "\nFCM:" not in text and not text.startswith("FCM:"):
                _replace(path, writeback.finish_edl(text, timeline))
        elif fmt == "fcpx_xml":
            from kling_bridge.timeline.writing import timeline_to_string

            _replace(path, timeline_to_string(timeline, "fcpx_xml"))
    except Exception:
        log.warning("kling_bridge post_adapter_write skipped", exc_info=True)
    return timeline


def _replace(path: str, text: str) -> None:
    """Temp file beside the output, then rename (the output is never half-written)."""
    from kling_bridge.atomic import write_text

    write_text(Path(path), text)


def _skipped(argument_map: dict[str, Any] | None) -> bool:
    """``-H kling_bridge=False`` turns the hooks off for one command."""
    return bool(argument_map) and argument_map.get("kling_bridge") is False  # type: ignore[union-attr]
