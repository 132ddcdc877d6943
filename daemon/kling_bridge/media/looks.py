"""Draft looks: the ffmpeg filter graph that stands in for a Kling restyle, offline.

A preset's ``draft_filter`` is an honest approximation (a grade, a posterise, an overlay of
rain), not a claim to be the model. It must be a filter graph with one unlabelled input
and one unlabelled output, so the draft renderer can put a rate change before it and a
scale after it; :func:`check_filter` proves that on a tiny generated clip.
"""

from __future__ import annotations

import hashlib

from .errors import FfmpegFailed, PresetError
from .presets import Preset
from .run import ffmpeg_args, run

#: Grades for a free-words look with no preset: picked by the words, so two prompts differ.
_CUSTOM_GRADES = (
    "eq=contrast=1.2:saturation=1.4,colorbalance=rs=0.1:bs=-0.1",
    "eq=contrast=1.15:saturation=0.6,colortemperature=temperature=7500",
    "curves=preset=cross_process,eq=saturation=1.2",
    "colorbalance=rs=-0.15:gs=0.05:bs=0.2:rh=0.15,eq=contrast=1.1",
    "hue=h=35:s=1.2,eq=gamma=1.1",
    "curves=preset=strong_contrast,vignette=angle=PI/4",
)


def custom_graph(words: str) -> str:
    digest = hashlib.sha256(words.strip().lower().encode("utf-8")).digest()
    return _CUSTOM_GRADES[digest[0] % len(_CUSTOM_GRADES)]


def draft_graph(preset: Preset | None, *, seed: int = 0, words: str | None = None) -> str:
    """The graph a draft restyle renders; variants (``seed``) turn the hue a little."""
    if preset is not None:
        graph = preset.draft_filter
    elif words and words.strip():
        graph = custom_graph(words)
    else:
        graph = "null"
    if seed:
        graph = f"{graph},hue=h={(seed * 29) % 360}"
    return graph


def wrap_graph(graph: str, *, before: str = "", after: str = "") -> str:
    """``before`` + graph + ``after`` as one -vf string (the graph's ends are unlabelled)."""
    out = graph
    if before:
        out = f"{before},{out}"
    if after:
        out = f"{out},{after}"
    return out


def check_filter(graph: str, *, preset: Preset | None = None) -> None:
    """Render two tiny frames through ``graph``; a broken graph raises, naming the preset file."""
    vf = wrap_graph(graph, before="fps=24", after="scale=64:36,format=yuv420p")
    args = ffmpeg_args("-f", "lavfi", "-i", "testsrc2=size=128x72:rate=24", "-frames:v", "2",
                       "-vf", vf, "-f", "null", "-")
    try:
        run(args, subject=preset.path if preset else None, what="testing the draft filter")
    except FfmpegFailed as exc:
        where = preset.path if preset else None
        why = exc.detail.splitlines()[-1] if exc.detail else str(exc)
        raise PresetError(
            where, f"draft_filter does not run in ffmpeg ({why})",
            "the graph needs one unlabelled input and output; try it with "
            "ffmpeg -i clip.mp4 -vf '<graph>' out.mp4",
        ) from None
