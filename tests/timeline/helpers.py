"""Checks shared by the results and round-trip tests."""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from kling_bridge.specs import ClipRef, SourceRange
from kling_bridge.timeline.rates import exact_rate
from kling_bridge.timeline.results import ResultClip
from kling_bridge.timeline.selection import Selection


def record_range(item: Any, rate: Fraction) -> tuple[int, int]:
    """(start, length) in whole timeline frames, computed by OTIO itself."""
    rng = item.range_in_parent()
    start = Fraction(rng.start_time.value).limit_denominator(1000) * rate / exact_rate(
        rng.start_time.rate)
    length = Fraction(rng.duration.value).limit_denominator(1000) * rate / exact_rate(
        rng.duration.rate)
    assert start.denominator == 1 and length.denominator == 1, (item.name, start, length)
    return int(start), int(length)


def results_for(selection: Selection, look: str = "film-noir", variant: int = 0,
                handle_before: bool = False, out_dir: str = "/out") -> list[ResultClip]:
    """What the lead would build from finished jobs: one output per restyle and generation."""
    made: list[ResultClip] = []
    for n, (ref, src) in enumerate(selection.restyles):
        made.append(_restyle(n, ref, src, look, variant, handle_before, out_dir))
    for n, spec in enumerate(selection.generations):
        assert spec.placement is not None
        made.append(ResultClip(
            job_id=f"gen-{n}", kind="generate", path=f"{out_dir}/broll {n} #{n}.mp4",
            clip=spec.placement, frames=spec.duration * 24, rate="24", has_audio=n == 0,
            provider="kling", model="kling-3.0", prompt=spec.prompt or spec.shots[0].prompt,
            task_id=f"task-g{n}", cost=1.0,
        ))
    return made


def _restyle(n: int, ref: ClipRef, src: SourceRange, look: str, variant: int,
             handle_before: bool, out_dir: str) -> ResultClip:
    before = src.handle_before if handle_before else 0
    after = src.handle_after if handle_before else 0
    return ResultClip(
        job_id=f"job-{look}-{variant}-{n}", kind="restyle",
        path=f"{out_dir}/{ref.name} {look} #{n}.mov", clip=ref, look=look, variant=variant,
        frames=src.frame_count + before + after, rate=src.rate, handle_before=before,
        has_audio=True, provider="draft", model="draft-look", preset=look,
        task_id=f"task-{n}", cost=0.0, draft=True,
    )


def strip_alternates(data: Any) -> Any:
    """An original item's JSON without the bridge's added alternate references."""
    if isinstance(data, dict):
        refs = data.get("media_references")
        if isinstance(refs, dict):
            data = dict(data)
            data["media_references"] = {k: v for k, v in refs.items()
                                        if not k.startswith("kling_bridge.")}
        return {k: strip_alternates(v) for k, v in data.items()}
    if isinstance(data, list):
        return [strip_alternates(v) for v in data]
    return data


def track_json(track: Any) -> Any:
    return strip_alternates(json.loads(otio.adapters.otio_json.write_to_string(
        copy.deepcopy(track))))
