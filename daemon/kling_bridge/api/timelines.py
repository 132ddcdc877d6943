"""The API's bridge to the timeline layer: request -> selection, batch -> result timeline.

The timeline functions are pure over OTIO objects; this module supplies the I/O they leave
out (reading files, probing media for a start timecode) and runs the CPU-heavy parts in a
worker thread so a 5,000-clip timeline does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from ..fileguard import UnsafeFile
from ..jobs import model as m
from ..media.errors import MediaError
from ..media.probe import probe
from ..specs import ClipRef, GenerateSpec, JobResult, SourceRange, spec_from_dict
from ..timeline import (
    Criteria,
    ResultClip,
    TimelineError,
    apply_results,
    canonical_format,
    media_type_for,
    read_timeline,
    read_timeline_text,
    select,
    timeline_to_bytes,
)
from . import schemas as s
from .security import ApiError
from .timeline_files import guarded


@dataclass
class TimelineSelection:
    restyles: list[tuple[ClipRef, SourceRange]] = field(default_factory=list)
    generations: list[GenerateSpec] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timeline_json: str | None = None
    format: str | None = None
    source: str | None = None


def timeline_error(exc: TimelineError) -> ApiError:
    """File, item and problem in the message; what to do in the hint (not said twice)."""
    parts = [str(p) for p in (exc.path, f"item {exc.item!r}" if exc.item else None) if p]
    message = ": ".join([*parts, exc.problem.rstrip(".")])
    return ApiError(400, "bad_timeline", message, exc.hint or "")


def criteria_of(select_in: s.SelectIn) -> Criteria:
    mode, values = select_in.mode, tuple(select_in.values)
    base: dict[str, Any] = {"handles": select_in.handles}
    if mode == "marked":
        return Criteria(marked=True, **base)
    if mode == "all":
        return Criteria(all_clips=True, **base)
    if mode == "color":
        return Criteria(colours=values, **base)
    if mode == "track":
        return Criteria(tracks=values, **base)
    if mode == "marker":
        return Criteria(markers=values, **base)
    if select_in.range is None:
        raise ApiError(400, "bad_request", "select.mode 'range' needs select.range [in, out]",
                       "frames from the timeline start, or timecodes like 01:00:10:00")
    start, end = select_in.range
    return Criteria(time_range=(_int_or_tc(start), _int_or_tc(end)), **base)


def _int_or_tc(value: str) -> int | str:
    return int(value) if value.strip().isdigit() else value.strip()


@functools.lru_cache(maxsize=4096)
def media_start(path: str) -> otio.opentime.RationalTime | None:
    """A file's first timecode, for timelines (EDLs) that do not say where media starts."""
    try:
        info = probe(path)
    except MediaError:
        return None
    if not info.timecode or info.video is None:
        return None
    rate = float(info.video.rate)
    return otio.opentime.from_timecode(info.timecode, rate)


def _select_sync(body: s.RestyleIn) -> TimelineSelection:
    if body.timeline_path is not None:
        result = read_timeline(Path(body.timeline_path), body.timeline_format)
        source = body.timeline_path
    else:
        text = json.dumps(body.timeline)
        result = read_timeline_text(text, body.timeline_format or "otio_json")
        source = "request timeline"
    criteria = criteria_of(body.select)
    selection = select(result.timeline, criteria, media_start, source=source)
    notes = [*result.notes, *selection.notes, *(str(i) for i in result.issues)]
    return TimelineSelection(
        restyles=selection.restyles,
        generations=selection.generations,
        skipped=selection.skipped,
        notes=notes,
        timeline_json=otio.adapters.write_to_string(result.timeline, "otio_json"),
        format=result.format,
        source=source,
    )


async def select_from_request(body: s.RestyleIn) -> TimelineSelection:
    try:
        return await asyncio.to_thread(guarded(_select_sync), body)
    except TimelineError as exc:
        raise timeline_error(exc) from exc
    except UnsafeFile as exc:
        raise ApiError(400, "bad_timeline", f"{exc.path}: {exc.problem}", exc.hint) from exc


def result_clips(jobs: list[m.Job]) -> list[ResultClip]:
    """Finished jobs as the timeline layer needs them (provenance included, no secrets)."""
    out = []
    for job in jobs:
        if job.state is not m.JobState.SUCCEEDED or not job.result:
            continue
        result = JobResult.from_dict(dict(job.result))
        video = result.video()
        if video is None:
            continue
        spec = spec_from_dict(str(job.kind), dict(job.spec))
        ref = getattr(spec, "clip", None) or getattr(spec, "placement", None)
        if ref is None:
            continue
        look = getattr(spec, "look", None)
        prompt = (look.prompt if look is not None else getattr(spec, "prompt", "")) or ""
        out.append(
            ResultClip(
                job_id=job.id,
                kind=str(job.kind),
                path=video.path,
                clip=ref,
                look=look.label if look is not None else "",
                variant=int(getattr(spec, "variant", 0)),
                frames=video.frames,
                rate=video.rate,
                has_audio=video.has_audio,
                provider=job.provider,
                model=str(getattr(spec, "model", "")),
                prompt=prompt,
                preset=look.preset if look is not None else None,
                task_id=",".join(t.provider_task_id or "" for t in job.tasks) or None,
                cost=job.billed_units,
                draft=bool(result.metadata.get("draft", video.draft)),
            )
        )
    return out


def _result_sync(batch: dict[str, Any], jobs: list[m.Job], fmt: str) -> tuple[bytes, str]:
    request = batch["request"]
    text = request.get("timeline")
    if text:
        timeline = otio.adapters.read_from_string(text, "otio_json")
    else:
        timeline = otio.schema.Timeline(name=f"kling-bridge {batch['id']}")
        rate = _first_rate(jobs)
        timeline.global_start_time = otio.opentime.RationalTime(0, float(rate))
    result = apply_results(timeline, result_clips(jobs), owned=True)  # parsed just above
    canonical = canonical_format(fmt)
    return timeline_to_bytes(result, canonical), media_type_for(canonical)


def _first_rate(jobs: list[m.Job]) -> Fraction:
    for job in jobs:
        clip = job.spec.get("clip") or job.spec.get("placement")
        if clip:
            try:
                rate = Fraction(str(clip.get("timeline_rate", "24")))
            except (ValueError, ZeroDivisionError):
                continue  # a row stored before rates were checked at the door
            if rate > 0:
                return rate
    return Fraction(24)


async def result_timeline(batch: dict[str, Any], jobs: list[m.Job], fmt: str) -> tuple[bytes, str]:
    try:
        return await asyncio.to_thread(_result_sync, batch, jobs, fmt)
    except TimelineError as exc:
        raise timeline_error(exc) from exc
