"""Create work: restyle (O3), generate (3.0), lip-sync. Each answer carries the price.

Requests name local files by path (the daemon runs on the editor's machine); the handlers
probe what they must to turn a request into exact job specs, price them, and hand them to
the engine in one durable batch. ``dry_run`` prices without creating anything, so a plugin
can show "about 14 units (US$1.96)" before the editor confirms; its ``jobs`` are the jobs
that would be created (state ``planned``, no id), each with its clip, range, look and price.

Each verb is two layers: ``restyle_batch``/``generate_batch``/``lipsync_batch`` take the
services and a validated body and return the answer (the watch folder calls them in-process,
without HTTP), and the route handlers only parse the request around them. An
``idempotency_key`` makes a submission safe to repeat: the same key answers the batch it
created the first time (a watcher or plugin that crashed before recording the answer asks
again instead of paying twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from ..fileguard import UnsafeFile, regular_file
from ..jobs import model as m
from ..jobs.costs import estimate_spec
from ..jobs.engine import EngineError, NewJob
from ..media.errors import MediaError
from ..media.probe import probe
from ..specs import (
    ClipRef,
    ConformTarget,
    GenerateSpec,
    LipsyncSpec,
    Look,
    RestyleSpec,
    Shot,
    SourceRange,
    rate_str,
    spec_to_dict,
)
from . import chain_requests as chains
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
            near = difflib.get_close_matches(look.preset.lower(), sorted(known), n=1, cutoff=0.5)
            guess = f"; did you mean {near[0]!r}?" if near else ""
            raise ApiError(400, "unknown_preset", f"no preset called {look.preset!r}{guess}",
                           f"known presets: {', '.join(sorted(known))} "
                           "(GET /v1/presets, or kling-bridge presets)")
        out.append(Look(preset=look.preset, prompt=look.prompt))
    return out


class _KeyedLocks:
    """One lock per idempotency key while submissions with it are in flight."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str | None) -> AsyncIterator[None]:
        if key is None:
            yield
            return
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


_KEYED = _KeyedLocks()


def _prior_batch(sv: Services, key: str | None) -> s.BatchOut | None:
    """The batch an earlier submission with ``key`` created, answered again."""
    if key is None:
        return None
    rows = sv.engine.store.read(
        "SELECT id FROM batches WHERE json_extract(request, '$.idempotency_key') = ? LIMIT 1",
        (key,),
    )
    if not rows:
        return None
    jobs = sv.engine.store.batch_jobs(rows[0][0])
    prov = sv.engine.providers.get(jobs[0].provider) if jobs else None
    chained = [s.ChainOut.model_validate(c) for c in sv.chain_driver().of_batch(rows[0][0])]
    units = (sum(c.estimate_units for c in chained) if chained
             else sum(j.estimate_units for j in jobs))
    return s.BatchOut(
        batch_id=rows[0][0], provider=prov.name if prov else "", jobs=[job_out(j) for j in jobs],
        paid=bool(prov and prov.capabilities.paid), draft=bool(prov and prov.capabilities.draft),
        estimate=money(units), chains=chained,
        notes=["already submitted with this idempotency_key: this is that batch"],
    )


async def _answer(
    sv: Services,
    items: list[tuple[m.JobKind, NewJob]],
    provider: str | None,
    dry_run: bool,
    batch_request: dict[str, Any],
    skipped: Sequence[s.SkippedOut] = (),
    notes: Sequence[str] = (),
    idempotency_key: str | None = None,
) -> tuple[s.BatchOut, int]:
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
        def plan() -> list[s.JobOut]:
            return [_planned(kind_, job, prov) for kind_, job in items]

        planned = await asyncio.to_thread(plan) if len(items) > INLINE_JOBS else plan()
        return s.BatchOut(batch_id=None, jobs=planned, dry_run=True, **base), 200
    if idempotency_key is not None:  # the caller holds the key's lock and found no batch
        batch_request = {**batch_request, "idempotency_key": idempotency_key}
    try:
        batch_id, jobs = await engine.submit_mixed(items, provider=provider,
                                                   request=batch_request)
    except EngineError as exc:
        raise engine_error(exc) from exc
    def answer() -> s.BatchOut:
        return s.BatchOut(batch_id=batch_id, jobs=[job_out(j) for j in jobs], **base)

    # thousands of job summaries are built off the loop (health must keep answering)
    return (await asyncio.to_thread(answer) if len(jobs) > INLINE_JOBS else answer()), 201


def _planned(kind: m.JobKind, job: NewJob, provider: Any) -> s.JobOut:
    """A job a dry run would create, in the shape of a real one (its spec says the clip,
    range and look; its estimate the price) with no id, in state ``planned``."""
    row = m.Job(id="", batch_id="", kind=kind, provider=provider.name,
                spec=spec_to_dict(job.spec), estimate_units=estimate_spec(job.spec, provider).units,
                label=job.label)
    return s.JobOut.model_validate({**m.job_summary(row), "state": "planned"})


async def restyle(request: web.Request) -> web.Response:
    answer, status = await restyle_batch(services(request),
                                         await parse_body(request, s.RestyleIn))
    return json_response(answer, status=status)


async def restyle_batch(sv: Services, body: s.RestyleIn) -> tuple[s.BatchOut, int]:
    """A restyle request -> its batch (created, or priced when ``dry_run``) and HTTP status."""
    async with _KEYED.hold(None if body.dry_run else body.idempotency_key):
        if not body.dry_run and (prior := _prior_batch(sv, body.idempotency_key)):
            return prior, 200
        return await _restyle_batch(sv, body)


async def _restyle_batch(sv: Services, body: s.RestyleIn) -> tuple[s.BatchOut, int]:
    reference: RestyleSpec | None = None
    settings: dict[str, Any] = {
        "resolution": body.resolution, "model": body.model or sv.settings.kling.edit_model,
        "keep_audio": body.keep_audio,
        "reference_image": _existing_file(body.reference_image, "reference image")}
    if body.apply_look is not None:
        look, settings, reference = chains.apply_look(sv, body)
        looks = [look]
    else:
        looks = _check_looks(sv, body.looks or [body.look])
    per_source = len(looks) * body.variants
    if len(body.clips) * per_source > s.MAX_JOBS_PER_REQUEST:
        raise too_many_jobs(len(body.clips) * per_source)
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
    skipped = [s.SkippedOut(name=n, reason=r) for n, r in selection.skipped]
    notes = list(selection.notes)
    if reference is not None and body.apply_look is not None:
        picked = body.apply_look.job_id
        if body.apply_look.to == "rest":
            skipped += [s.SkippedOut(name=ref.name or Path(src.path).stem,
                                     reason=f"the reference clip: already in this look "
                                     f"(job {picked})")
                        for ref, src in sources if chains.overlaps(src, reference.source)]
            sources = [(ref, src) for ref, src in sources
                       if not chains.overlaps(src, reference.source)]
        whom = "the rest of the selection" if body.apply_look.to == "rest" else "all of it"
        notes.append(f"the look {looks[0].label!r} of job {picked}, applied to {whom}")
    if not sources and not selection.generations and not (body.dry_run and (selection.skipped
                                                                           or skipped)):
        raise ApiError(400, "empty_selection", "nothing to restyle: no clips given or selected"
                       + (" besides the reference clip" if reference is not None else ""),
                       "mark clips in the host, pass clips, or choose select.mode")
    restyles: list[tuple[RestyleSpec, str]] = []
    for ref, source in sources:
        for look in looks:
            for variant in range(body.variants):
                label = f"{ref.name or Path(source.path).stem} · {look.label}"
                if body.variants > 1:
                    label += f" v{variant + 1}"
                spec = RestyleSpec(source=source, look=look, variant=variant, clip=ref,
                                   **settings)
                restyles.append((spec, label))
    batch_request = {"kind": "restyle", "timeline": selection.timeline_json,
                     "format": selection.format, "source": selection.source,
                     "document": selection.document}
    if body.more_like_this is not None:
        plans = chains.restyle_plans(sv, body, restyles, selection.generations,
                                     selection.timeline_json, notes)
        return await chains.chain_answer(sv, plans, kind="restyle_then_broll",
                                         provider=body.provider, dry_run=body.dry_run,
                                         request=batch_request, skipped=skipped, notes=notes,
                                         idempotency_key=body.idempotency_key)
    items: list[tuple[m.JobKind, NewJob]] = [
        (m.JobKind.RESTYLE, NewJob(spec, label)) for spec, label in restyles]
    for broll in selection.generations:
        items.append((m.JobKind.GENERATE, NewJob(broll, f"B-roll · {broll.prompt[:40]}")))
    return await _answer(sv, items, body.provider, body.dry_run, batch_request, skipped,
                         notes, body.idempotency_key)


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
    answer, status = await generate_batch(services(request),
                                          await parse_body(request, s.GenerateIn))
    return json_response(answer, status=status)


async def generate_batch(sv: Services, body: s.GenerateIn) -> tuple[s.BatchOut, int]:
    """A generation request -> its batch (or price) and HTTP status; see restyle_batch."""
    async with _KEYED.hold(None if body.dry_run else body.idempotency_key):
        if not body.dry_run and (prior := _prior_batch(sv, body.idempotency_key)):
            return prior, 200
        return await _generate_batch(sv, body)


async def _generate_batch(sv: Services, body: s.GenerateIn) -> tuple[s.BatchOut, int]:
    shots = tuple(Shot(x.prompt, x.duration) for x in body.shots)
    if (not body.prompt and not shots and not body.image and not body.frame_of
            and body.reference is None):
        raise ApiError(400, "no_prompt", "a generation needs a prompt, shots or an image",
                       "describe the shot you want in 'prompt'")
    duration = sum(x.duration for x in shots) if shots else body.duration
    if shots and not 3 <= duration <= 15:
        raise ApiError(400, "bad_shots", f"the shots last {duration} s in all",
                       "multi-shot totals must be 3 to 15 s")
    image = _existing_file(body.image, "image")
    if body.frame_of is not None:
        image = await grab_frame(sv, body.frame_of)
    if body.reference is not None and body.reference.clip is not None:
        _existing_file(body.reference.clip.path, "reference clip")
    extra = {**chains.reference_fields(body.reference, body.audio),
             **chains.character_fields(sv, body.characters, body.project)}
    model = chains.omni_model(sv, body.model, extra) or sv.settings.kling.generate_model
    specs: list[GenerateSpec] = [
        GenerateSpec(prompt=body.prompt, negative_prompt=body.negative_prompt, image=image,
                     end_image=_existing_file(body.end_image, "end image"), shots=shots,
                     duration=duration, aspect_ratio=body.aspect_ratio,
                     resolution=body.resolution, audio=body.audio, variant=v, model=model,
                     conform=_conform(body.conform), placement=_placement(body.placement),
                     **extra)
        for v in range(body.variants)
    ]
    label = _generate_label(body, shots)
    labels = [label + (f" v{n + 1}" if body.variants > 1 else "") for n in range(len(specs))]
    parent = body.reference.job_id if body.reference is not None else None
    if body.then or parent:
        looks = _check_looks(sv, body.then) if body.then else []
        request = chains.parent_request(sv, parent) if parent else {}
        kind = ("generate_then_restyle" if looks else
                "next_shot" if body.reference and body.reference.mode == "next_shot"
                else "more_like_this")
        plans = chains.generate_plans(sv, body, specs, labels, looks)
        return await chains.chain_answer(sv, plans, kind=kind, provider=body.provider,
                                         dry_run=body.dry_run,
                                         request={**request, "kind": kind},
                                         idempotency_key=body.idempotency_key)
    items = [(m.JobKind.GENERATE, NewJob(spec, lab))
             for spec, lab in zip(specs, labels, strict=True)]
    return await _answer(sv, items, body.provider, body.dry_run, {"kind": "generate"},
                         idempotency_key=body.idempotency_key)


def _generate_label(body: s.GenerateIn, shots: tuple[Shot, ...]) -> str:
    if body.reference is not None:
        what = "next shot" if body.reference.mode == "next_shot" else "more like this"
        return f"{what}{' · ' + body.prompt[:40] if body.prompt else ''}"
    label = body.prompt[:48] or (shots[0].prompt[:48] if shots else "image to video")
    if body.characters:
        label += f" · {', '.join(body.characters)}"
    return label


async def grab_frame(sv: Services, clip: s.ClipIn) -> str:
    """Image-to-video from a timeline frame: grab it to a still in the cache."""
    from ..media.pictures import grab_frame as grab

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
    answer, status = await lipsync_batch(services(request),
                                         await parse_body(request, s.LipsyncIn))
    return json_response(answer, status=status)


async def lipsync_batch(sv: Services, body: s.LipsyncIn) -> tuple[s.BatchOut, int]:
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
    return await _answer(sv, items, body.provider, body.dry_run, {"kind": "lipsync"})


def register(app: web.Application) -> None:
    app.router.add_post("/v1/restyle", restyle, name="restyle")
    app.router.add_post("/v1/generate", generate, name="generate")
    app.router.add_post("/v1/lipsync", lipsync, name="lipsync")
