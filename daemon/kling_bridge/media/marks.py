"""The small "DRAFT" mark burnt into every draft clip, so nobody mistakes one for Kling's work.

The README promises that drafts are visibly drafts: file metadata alone is invisible in an
editor's viewer. Yellow words on a dark box in the bottom-right corner, sized to the frame
(about 1/24 of its height), away from the top edge where test barcodes and titles sit.
Without a font on the machine (drawtext would fail the render) it is a yellow block.

Restyles get it when they are conformed (in the source's own geometry, so a letterbox the
fit added and conform crops off can never take the mark with it); generated drafts get it
when they are rendered.
"""

from __future__ import annotations

from .fonts import escape_filter_value, font_file

MARK_TEXT = "DRAFT"
MARK_COLOUR = "0xffcc00"


def draft_mark_filter() -> tuple[str, dict[str, str]]:
    """``(filter name, options)``: for ffmpeg-python graphs (``stream.filter(name, **opts)``)."""
    font = font_file()
    if font is not None:
        return "drawtext", {
            "fontfile": str(font), "text": MARK_TEXT, "expansion": "none",
            "fontsize": "h/24+6", "fontcolor": MARK_COLOUR, "box": "1",
            "boxcolor": "black@0.55", "boxborderw": "4",
            "x": "w-tw-h/32-4", "y": "h-th-h/32-4",
        }
    return "drawbox", {"x": "iw-iw/7-ih/32", "y": "ih-ih/14-ih/32", "w": "iw/7", "h": "ih/14",
                       "color": MARK_COLOUR, "t": "fill"}


def draft_mark_graph() -> str:
    """The same mark as one link of a ``-vf`` / ``-filter_complex`` chain."""
    name, options = draft_mark_filter()
    return name + "=" + ":".join(f"{k}={escape_filter_value(v)}" for k, v in options.items())
