"""Timelines in, timeline edits out: the editor's selection becomes job specs, finished jobs
come back as edits placed to the frame, in every editor's format.

The public surface (the API, CLI and watch folder use only these):

- reading: :func:`read_timeline`, :func:`read_timeline_text` -> :class:`ReadResult`
- choosing: :class:`Criteria`, :func:`select` -> :class:`Selection`; :func:`restyle_specs`,
  :func:`generate_specs` multiply by looks and variants
- results: :class:`ResultClip`, :func:`apply_results`, :func:`new_clips`
- writing: :func:`write_timeline`, :func:`timeline_to_string`, :func:`timeline_to_bytes`,
  :func:`result_path`, :func:`media_type_for`, :func:`canonical_format`
- errors: :class:`TimelineError`, :class:`ClipIssue`

Layering: imports ``kling_bridge.specs`` and OpenTimelineIO only (``kling_bridge.config`` lazily,
for where to unpack ``.otioz`` media), so the OTIO plugin can load it cheaply.
"""

from kling_bridge.timeline.errors import ClipIssue, TimelineError
from kling_bridge.timeline.formats import (
    FORMATS,
    ReadResult,
    canonical_format,
    detect_format,
    media_type_for,
    read_timeline,
    read_timeline_text,
    suffix_for,
)
from kling_bridge.timeline.results import ResultClip, apply_results, new_clips
from kling_bridge.timeline.selection import (
    Criteria,
    Selection,
    generate_specs,
    restyle_specs,
    select,
)
from kling_bridge.timeline.writing import (
    result_path,
    timeline_to_bytes,
    timeline_to_string,
    write_timeline,
)

__all__ = [
    "FORMATS",
    "ClipIssue",
    "Criteria",
    "ReadResult",
    "ResultClip",
    "Selection",
    "TimelineError",
    "apply_results",
    "canonical_format",
    "detect_format",
    "generate_specs",
    "media_type_for",
    "new_clips",
    "read_timeline",
    "read_timeline_text",
    "restyle_specs",
    "result_path",
    "select",
    "suffix_for",
    "timeline_to_bytes",
    "timeline_to_string",
    "write_timeline",
]
