"""Create work: restyle (O3), generate (3.0), lip-sync. Each answer carries the price.

Requests name local files by path (the daemon runs on the editor's machine); the handlers
probe what they must to turn a request into exact job specs, price them, and hand them to
the engine in one durable batch. ``dry_run`` prices without creating anything, so a plugin
can show "about 14 units (US$1.96)" before the editor confirms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from ..fileguard import UnsafeFile, regular_file
from ..jobs import model as m
from ..jobs.engine import EngineError, NewJob
from ..media.errors import MediaError
from ..media.probe import probe
from ..specs import (
    ClipRef,
    ConformTarget,
    GenerateSpec,
    JobSpec,
    LipsyncSpec,
    Look,
    RestyleSpec,
    Shot,
    SourceRange,
    rate_str,
)
from . import schemas as s
from .bodies import parse_body
from .routes_jobs import engine_error, job_out, json_response, money
from .security import ApiError
from .state import Services, services

__all__ = ["parse_body", "register"]

#: Above this many jobs, pricing and building the batch run in a worker thread.
INLINE_JOBS = 64


def file_error(exc: UnsafeFile) -> ApiError:
    code = "media_missing" if exc.code == "missing" else "bad_path"
    return ApiError(400, code, f"{exc.path}: {exc.problem}", exc.hint)


def too_many_jobs(count: int) -> ApiError:
    return ApiError(
        400, "too_many_jobs",
        f"this request would create {count} jobs; one request may create at most "
        f"{s.MAX_JOBS_PER_REQUEST}",
        "split it: fewer clips, looks or variants per request",
    )


def media_error(exc: MediaError) -> ApiError:
    return ApiError(400, exc.code, exc.message, exc.hint)


async def clip_source(clip: s.ClipIn, handles: int) -> tuple[ClipRef, SourceRange]:
    """Turn a bare media path (+ optional range) into an exact source range by probing."""
    try:
        info = await asyncio.to_thread(probe, clip.path)
    except MediaError as exc:
        raise media_error(exc) from exc
    assert info.video is not None
    total = info.video.frame_count
    rate = rate_str(info.video.rate) if clip.rate is None else clip.rate
    start = clip.start_frame or 0
    count = clip.frame_count if clip.frame_count is not None else total - start
    if start >= total or count < 1 or start + count > total:
        raise ApiError(400, "range_outside_media",
                       f"{clip.path}: frames {start}-{start + count - 1} are outside the media "
                       f"(it has {total} frames)", "pick a range inside the clip")
    name = clip.name or Path(clip.path).stem
    ref = ClipRef(clip_id=f"file:{name}", name=name, record_start=0, record_duration=count,
                  timeline_rate=rate)
    source = SourceRange(clip.path, start, count, rate, handle_before=min(handles, start),
                         handle_after=min(handles, total - start - count))
    return ref, source


def _check_looks(sv: Services, looks: Sequence[s.LookIn]) -> list[Look]:
    known = {p["id"] for p in sv.presets()}
    out = []
    for look in looks:
        if not look.preset and not look.prompt:
            raise ApiError(400, "no_look", "a look needs a preset or a prompt",
                           "e.g. {\"preset\": \"film-noir\"}; GET /v1/presets lists them")
        if look.preset and known and look.preset not in known:
            raise ApiError(400, "unknown_preset", f"no preset called {look.preset!r}",
                           f"known presets: {', '.join(sorted(known))}")
        out.append(Look(preset=look.preset, prompt=look.prompt))
    return out


async def _answer(
    request: web.Request,
    kind: m.JobKind,
    items: list[tuple[m.JobKind, NewJob]],
    provider: str | None,
    dry_run: bool,
    batch_request: dict[str, Any],
    skipped: Sequence[s.SkippedOut] = (),
    notes: Sequence[str] = (),
) -> web.Response:
    sv = services(request)
    engine = sv.engine
    if len(items) > s.MAX_JOBS_PER_REQUEST:
        raise too_many_jobs(len(items))
    try:
        prov = engine.provider(provider)
        specs = [job.spec for _, job in items]
        if len(specs) > INLINE_JOBS:
            estimate = await asyncio.to_thread(engine.estimate, specs, provider)
        else:
            estimate = engine.estimate(specs, provider)
    except EngineError as exc:
        raise engine_error(exc) from exc
    base = {
        "provider": prov.name,
        "paid": prov.capabilities.paid,
        "draft": prov.capabilities.draft,
        "estimate": money(estimate),
        "skipped": list(skipped),
        "notes": list(notes),
    }
    if dry_run:
        return json_response(s.BatchOut(batch_id=None, jobs=[], dry_run=True, **base))
    try:
        batch_id, jobs = await engine.submit_mixed(items, provider=provider,
                                                   request=batch_request)
    except EngineError as exc:
        raise engine_error(exc) from exc
    def answer() -> web.Response:
        return json_response(
            s.BatchOut(batch_id=batch_id, jobs=[job_out(j) for j in jobs], **base), status=201
        )

    return await asyncio.to_thread(answer) if len(jobs) > INLINE_JOBS else answer()


async def restyle(request: web.Request) -> web.Response:
    sv = services(request)
    body = await parse_body(request, s.RestyleIn)
    looks = _check_looks(sv, body.looks or [body.look])
    per_source = len(looks) * body.variants
    if len(body.clips) * per_source > s.MAX_JOBS_PER_REQUEST:
        raise too_many_jobs(len(body.clips) * per_source)
    reference = _existing_file(body.reference_image, "reference image")
    sources: list[tuple[ClipRef, SourceRange]] = []
    for clip in body.clips:
        sources.append(await clip_source(clip, body.select.handles))
    # OpenTimelineIO loads only when a timeline comes in (it costs a third of start-up).
    from .timelines import TimelineSelection, select_from_request

    selection = TimelineSelection()
    if body.timeline is not None or body.timeline_path is not None:
        selection = await select_from_request(body)
        sources.extend(selection.restyles)
        count = len(sources) * per_source + len(selection.generations)
        if count > s.MAX_JOBS_PER_REQUEST:
            raise too_many_jobs(count)
    if not sources and not selection.generations:
        raise ApiError(400, "empty_selection", "nothing to restyle: no clips given or selected",
                       "mark clips in the host, pass clips, or choose select.mode")
    items: list[tuple[m.JobKind, NewJob]] = []
    for ref, source in sources:
        for look in looks:
            for variant in range(body.variants):
                label = f"{ref.name or Path(source.path).stem} · {look.label}"
                if body.variants > 1:
                    label += f" v{variant + 1}"
                spec = RestyleSpec(source=source, look=look, resolution=body.resolution,
                                   variant=variant, keep_audio=body.keep_audio,
                                   reference_image=reference, clip=ref)
                items.append((m.JobKind.RESTYLE, NewJob(spec, label)))
    for broll in selection.generations:
        items.append((m.JobKind.GENERATE, NewJob(broll, f"B-roll · {broll.prompt[:40]}")))
    batch_request = {"kind": "restyle", "timeline": selection.timeline_json,
                     "format": selection.format, "source": selection.source}
    skipped = [s.SkippedOut(name=n, reason=r) for n, r in selection.skipped]
    return await _answer(request, m.JobKind.RESTYLE, items, body.provider, body.dry_run,
                         batch_request, skipped, selection.notes)


def _conform(c: s.ConformIn | None) -> ConformTarget | None:
    return ConformTarget(c.rate, c.width, c.height) if c else None


def _placement(p: s.PlacementIn | None) -> ClipRef | None:
    if p is None:
        return None
    return ClipRef(clip_id=f"placement:{p.record_start}", name=p.name, track_index=p.track_index,
                   record_start=p.record_start, timeline_rate=p.timeline_rate)


def _existing_file(path: str | None, what: str) -> str | None:
    """``path`` if it is a regular file (refused by kind otherwise: devices, FIFOs...)."""
    if path is None:
        return None
    try:
        regular_file(path, what=what)
    except UnsafeFile as exc:
        raise file_error(exc) from exc
    return path


async def generate(request: web.Request) -> web.Response:
    body = await parse_body(request, s.GenerateIn)
    shots = tuple(Shot(x.prompt, x.duration) for x in body.shots)
    if not body.prompt and not shots and not body.image and not body.frame_of:
        raise ApiError(400, "no_prompt", "a generation needs a prompt, shots or an image",
                       "describe the shot you want in 'prompt'")
    duration = sum(x.duration for x in shots) if shots else body.duration
    if shots and not 3 <= duration <= 15:
        raise ApiError(400, "bad_shots", f"the shots last {duration} s in all",
                       "multi-shot totals must be 3 to 15 s")
    image = _existing_file(body.image, "image")
    if body.frame_of is not None:
        image = await grab_frame(request, body.frame_of)
    specs: list[JobSpec] = [
        GenerateSpec(prompt=body.prompt, negative_prompt=body.negative_prompt, image=image,
                     end_image=_existing_file(body.end_image, "end image"), shots=shots,
                     duration=duration, aspect_ratio=body.aspect_ratio,
                     resolution=body.resolution, audio=body.audio, variant=v,
                     conform=_conform(body.conform), placement=_placement(body.placement))
        for v in range(body.variants)
    ]
    label = body.prompt[:48] or (shots[0].prompt[:48] if shots else "image to video")
    items = [
        (m.JobKind.GENERATE, NewJob(spec, label + (f" v{n + 1}" if body.variants > 1 else "")))
        for n, spec in enumerate(specs)
    ]
    return await _answer(request, m.JobKind.GENERATE, items, body.provider, body.dry_run,
                         {"kind": "generate"})


async def grab_frame(request: web.Request, clip: s.ClipIn) -> str:
    """Image-to-video from a timeline frame: grab it to a still in the cache."""
    from ..media.pictures import grab_frame as grab

    sv = services(request)
    frame = clip.start_frame or 0
    dest_dir = sv.paths.cache_dir / "frames"
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{Path(clip.path).stem}-frame{frame}-{m.new_id('j')}.png"
    try:
        out = await asyncio.to_thread(grab, Path(clip.path), frame, dest)
    except MediaError as exc:
        raise media_error(exc) from exc
    return str(out)


async def lipsync(request: web.Request) -> web.Response:
    body = await parse_body(request, s.LipsyncIn)
    if (body.video is None) == (body.image is None):
        raise ApiError(400, "bad_request", "give exactly one of 'video' or 'image'",
                       "the face to drive comes from a clip or a still")
    if body.audio_end is not None and body.audio_end <= body.audio_start:
        raise ApiError(400, "bad_range", "audio_end must be after audio_start", "")
    spec = LipsyncSpec(audio=_existing_file(body.audio, "dialogue audio") or body.audio,
                       audio_start=body.audio_start, audio_end=body.audio_end,
                       video=_existing_file(body.video, "video"),
                       image=_existing_file(body.image, "image"), resolution=body.resolution,
                       conform=_conform(body.conform), placement=_placement(body.placement))
    items = [(m.JobKind.LIPSYNC, NewJob(spec, f"lip-sync · {Path(body.audio).stem}"))]
    return await _answer(request, m.JobKind.LIPSYNC, items, body.provider, body.dry_run,
                         {"kind": "lipsync"})


def register(app: web.Application) -> None:
    app.router.add_post("/v1/restyle", restyle, name="restyle")
    app.router.add_post("/v1/generate", generate, name="generate")
    app.router.add_post("/v1/lipsync", lipsync, name="lipsync")
