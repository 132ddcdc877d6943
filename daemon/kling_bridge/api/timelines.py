"""The API's bridge to the timeline layer: request -> selection, batch -> result timeline.

A batch keeps the editor's own document (:class:`~kling_bridge.timeline.document.Document`)
beside the OTIO JSON of what was read, so its result in the same format is a splice into
that document, and an export writes it next to copies of the outputs.

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

from ..export import Exported, export_batch, result_clips
from ..fileguard import UnsafeFile
from ..jobs import model as m
from ..media.errors import MediaError
from ..media.probe import probe
from ..specs import ClipRef, GenerateSpec, SourceRange
from ..timeline import (
    Criteria,
    TimelineError,
    apply_results,
    canonical_format,
    media_type_for,
    read_timeline,
    read_timeline_text,
    select,
    timeline_to_bytes,
)
from ..timeline.document import Document, keep, result_files
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
    document: dict[str, Any] | None = None  # the editor's own file (timeline.document)


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
        path = Path(body.timeline_path)
        result = read_timeline(path, body.timeline_format)
        source = body.timeline_path
        document = keep(result, path)
    else:
        text = json.dumps(body.timeline)
        result = read_timeline_text(text, body.timeline_format or "otio_json")
        source = "request timeline"
        document = keep(result, name=source)
    criteria = criteria_of(body.select)
    # Clips whose media is not on this machine are skipped (and reported) up front, not
    # failed later one by one -- and a dry run can list them.
    selection = select(result.timeline, criteria, media_start, source=source,
                       media_exists=lambda path: Path(path).is_file(),
                       allow_empty=body.dry_run)
    notes = [*result.notes, *selection.notes, *(str(i) for i in result.issues)]
    return TimelineSelection(
        restyles=selection.restyles,
        generations=selection.generations,
        skipped=selection.skipped,
        notes=notes,
        timeline_json=otio.adapters.write_to_string(result.timeline, "otio_json"),
        format=result.format,
        source=source,
        document=document.to_dict(),
    )


async def select_from_request(body: s.RestyleIn) -> TimelineSelection:
    try:
        return await asyncio.to_thread(guarded(_select_sync), body)
    except TimelineError as exc:
        raise timeline_error(exc) from exc
    except UnsafeFile as exc:
        raise ApiError(400, "bad_timeline", f"{exc.path}: {exc.problem}", exc.hint) from exc


def _result_sync(batch: dict[str, Any], jobs: list[m.Job], fmt: str,
                 track: str | None = None) -> tuple[bytes, str]:
    """The batch's result timeline in ``fmt``: spliced into the editor's document when it
    is the document's own format, through the adapters otherwise (see
    :mod:`kling_bridge.timeline.document`). For an EDL, ``track`` picks which new track's
    EDL (default: the first)."""
    request = batch["request"]
    results = result_clips(jobs)
    canonical = canonical_format(fmt)
    kept = request.get("document")
    if isinstance(kept, dict):
        files = result_files(Document.from_dict(kept), results, canonical,
                             timeline=_stored(request))
        chosen = next((f for f in files if track is None or f.track == track), None)
        if chosen is None:
            names = ", ".join(repr(f.track) for f in files) or "none"
            raise TimelineError(f"no new track called {track!r}",
                                hint=f"the batch's new tracks are {names}")
        return chosen.data, chosen.media_type
    text = request.get("timeline")
    if text:
        timeline = otio.adapters.read_from_string(text, "otio_json")
    else:
        timeline = otio.schema.Timeline(name=f"kling-bridge {batch['id']}")
        rate = _first_rate(jobs)
        timeline.global_start_time = otio.opentime.RationalTime(0, float(rate))
    result = apply_results(timeline, results)
    return timeline_to_bytes(result, canonical), media_type_for(canonical)


def _stored(request: dict[str, Any]) -> otio.schema.Timeline | None:
    """The cut as the batch read it (for the adapter route when the document cannot be
    read again: an AAF moved away since)."""
    text = request.get("timeline")
    return otio.adapters.read_from_string(text, "otio_json") if text else None


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


async def result_timeline(batch: dict[str, Any], jobs: list[m.Job], fmt: str,
                          track: str | None = None) -> tuple[bytes, str]:
    try:
        return await asyncio.to_thread(_result_sync, batch, jobs, fmt, track)
    except TimelineError as exc:
        raise timeline_error(exc) from exc


async def export(batch: dict[str, Any], jobs: list[m.Job], folder: str,
                 fmt: str | None) -> Exported:
    """Copies and result timeline into ``folder`` (see :mod:`kling_bridge.export`)."""
    try:
        return await asyncio.to_thread(export_batch, batch, jobs, Path(folder), fmt)
    except TimelineError as exc:
        raise timeline_error(exc) from exc
    except OSError as exc:
        raise ApiError(400, "export_failed", f"{folder}: cannot write there ({exc.strerror})",
                       "choose a folder you can write to, with room for the files") from exc
