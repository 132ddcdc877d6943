"""Finding a font for ffmpeg's drawtext, or knowing there is none.

Slates and labels are nicer with words, but a fresh machine may have no fonts at all; then
drawtext fails the whole render. So callers ask here first and draw shapes only when this
returns ``None`` -- a draft without words beats no draft.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/System/Library/Fonts/Helvetica.ttc",
    "/Library/Fonts/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


def escape_filter_value(value: str) -> str:
    """Escape a value for a filter option inside a -vf/-filter_complex string."""
    return value.replace("\\", "/").replace(":", "\\:").replace("'", "\\'").replace(",", "\\,")


@functools.lru_cache(maxsize=1)
def font_file() -> Path | None:
    env = os.environ.get("KLING_BRIDGE_FONT")
    if env and Path(env).is_file():
        return Path(env)
    for cand in _CANDIDATES:
        if Path(cand).is_file():
            return Path(cand)
    if shutil.which("fc-match"):
        try:
            out = subprocess.run(["fc-match", "-f", "%{file}", "sans"], capture_output=True,
                                 timeout=10, check=False).stdout.decode().strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        if out and Path(out).is_file():
            return Path(out)
    return None


def drawtext_font() -> str | None:
    """``fontfile=...`` for a drawtext filter, or ``None`` when this machine has no font."""
    f = font_file()
    return f"fontfile={escape_filter_value(str(f))}" if f else None
