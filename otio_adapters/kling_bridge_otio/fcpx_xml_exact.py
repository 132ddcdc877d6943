"""OTIO adapter ``fcpx_xml_exact``: Final Cut Pro X XML with exact NTSC time.

The stock ``fcpx_xml`` adapter reads 23.976/29.97 projects at 23/29 fps and writes
``frameDuration=""`` (see ``kling_bridge.timeline.fcpx_exact``). This adapter is the
bridge's own reader and writer for the same files. It claims no file suffix, so it never
competes with the stock adapter; ask for it by name::

    otioconvert -i cut.fcpxml -I fcpx_xml_exact -o cut.otio
    otioconvert -i cut.otio -o cut.fcpxml -O fcpx_xml_exact
"""

from __future__ import annotations

from typing import Any


def read_from_string(input_str: str) -> Any:
    from kling_bridge.timeline.formats import read_timeline_text

    return read_timeline_text(input_str, "fcpx_xml", name="FCPXML", check_media=False).timeline


def write_to_string(input_otio: Any) -> str:
    from kling_bridge.timeline.writing import timeline_to_string

    return timeline_to_string(input_otio, "fcpx_xml")
