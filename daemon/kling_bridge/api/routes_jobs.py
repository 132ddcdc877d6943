"""Read and steer jobs: health, jobs, batches, presets, events, the OpenAPI document."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from ..jobs import model as m
from ..jobs.engine import EngineError
from ..providers.base import USD_PER_UNIT
from . import schemas as s
from .security import ApiError
from .state import services

ID = m.ID_PATTERN
SSE_HEARTBEAT_SECONDS = 15.0


def json_response(model: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=model.model_dump_json(), content_type="application/json"
    )


def engine_error(exc: EngineError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.hint)


def money(units: float) -> s.Money:
    return s.Money(units=round(units, 6), usd=round(units * USD_PER_UNIT, 4))


def job_out(job: m.Job) -> s.JobOut:
    return s.JobOut.model_validate(m.job_summary(job))


async def health(request: web.Request) -> web.Response:
    sv = services(request)
    engine = sv.engine
    holds = engine.holds()
    providers = [
        s.ProviderOut(
            name=name,
            paid=p.capabilities.paid,
            draft=p.capabilities.draft,
            held=s.ErrorBody(**holds[name]) if name in holds else None,
        )
        for name, p in sorted(engine.providers.items())
    ]
    return json_response(
        s.HealthOut(
            ok=True,
            version=sv.version,
            api="v1",
            provider=sv.settings.provider,
            providers=providers,
            credentials=s.CredentialOut(**sv.credentials),
            queue=engine.store.counts(),
            ready=engine.ready,
        )
    )


async def list_jobs(request: web.Request) -> web.Response:
    sv = services(request)
    q = request.query
    states = None
    if "state" in q:
        try:
            states = [m.JobState(v) for v in q["state"].split(",")]
        except ValueError as exc:
            raise ApiError(400, "bad_state", f"unknown state in {q['state']!r}",
                           f"use any of {', '.join(s.value for s in m.JobState)}") from exc
    batch = q.get("batch")
    if batch is not None and not m.valid_id(batch):
        raise ApiError(400, "bad_id", f"not a batch id: {batch!r}", "batch ids look like b0123…")
    before = q.get("before")
    if before is not None and not m.valid_id(before):
        raise ApiError(400, "bad_id", f"not a job id: {before!r}", "use next_before from a page")
    text = q.get("limit", "100")
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 500:
        raise ApiError(400, "bad_limit", f"limit must be a whole number from 1 to 500, not "
                       f"{text[:20]!r}", "leave it out for 100 jobs a page")
    limit = int(text)
    jobs = sv.engine.store.query(states=states, batch_id=batch, limit=limit, before=before)
    nxt = jobs[-1].id if len(jobs) == limit else None
    return json_response(s.JobListOut(jobs=[job_out(j) for j in jobs], next_before=nxt))


def _job_or_404(request: web.Request) -> m.Job:
    job = services(request).engine.store.get(request.match_info["id"])
    if job is None:
        raise ApiError(404, "not_found", f"no job {request.match_info['id']}",
                       "list jobs with GET /v1/jobs")
    return job


async def get_job(request: web.Request) -> web.Response:
    return json_response(job_out(_job_or_404(request)))


async def cancel_job(request: web.Request) -> web.Response:
    _job_or_404(request)
    try:
        job = await services(request).engine.cancel(request.match_info["id"])
    except EngineError as exc:
        raise engine_error(exc) from exc
    return json_response(job_out(job))


async def retry_job(request: web.Request) -> web.Response:
    _job_or_404(request)
    try:
        job = await services(request).engine.retry(request.match_info["id"])
    except EngineError as exc:
        raise engine_error(exc) from exc
    return json_response(job_out(job))


def batch_state(jobs: list[m.Job]) -> str:
    """One word for a batch: what an editor wants to know at a glance."""
    states = {j.state for j in jobs}
    if states <= {m.JobState.SUCCEEDED}:
        return "succeeded"
    if states & (m.ACTIVE | {m.JobState.QUEUED}):
        return "running"
    if m.JobState.NEEDS_ATTENTION in states:
        return "needs_attention"
    if m.JobState.SUCCEEDED in states:
        return "partial"
    return "failed" if m.JobState.FAILED in states else "cancelled"


def batch_or_404(request: web.Request) -> tuple[dict[str, Any], list[m.Job]]:
    store = services(request).engine.store
    batch = store.batch(request.match_info["id"])
    if batch is None:
        raise ApiError(404, "not_found", f"no batch {request.match_info['id']}",
                       "batch ids come back from POST /v1/restyle and /v1/generate")
    return batch, store.batch_jobs(batch["id"])


async def get_batch(request: web.Request) -> web.Response:
    batch, jobs = batch_or_404(request)
    chains = [s.ChainOut.model_validate(c)
              for c in services(request).chain_driver().of_batch(batch["id"])]
    state = batch_state(jobs)
    if any(c.state == "running" for c in chains):
        state = "running"  # links still to come: the batch is not done
    estimate = (sum(c.estimate_units for c in chains) if chains
                else sum(j.estimate_units for j in jobs))
    return json_response(
        s.BatchStatusOut(
            batch_id=batch["id"],
            kind=batch["kind"],
            state=state,
            created_at=batch["created_at"],
            estimate=money(estimate),
            billed=money(sum(j.billed_units for j in jobs)),
            jobs=[job_out(j) for j in jobs],
            chains=chains,
        )
    )


MAX_TRACK_NAME = 200  # as the OpenAPI document says
TIMELINE_FORMATS = ("otio", "otio_json", "fcp_xml", "fcpx_xml", "cmx_3600", "otioz", "AAF")


async def batch_timeline(request: web.Request) -> web.Response:
    """The batch's result as timeline edits, in the format the editor's host reads."""
    from .timelines import result_timeline

    fmt = request.query.get("format", "otio")
    if fmt not in TIMELINE_FORMATS:
        raise ApiError(400, "bad_format", f"unknown timeline format {fmt!r}",
                       f"use one of {', '.join(TIMELINE_FORMATS)}")
    track = request.query.get("track")
    if track is not None and not 0 < len(track) <= MAX_TRACK_NAME:
        raise ApiError(400, "bad_request", f"track must be a new track's name, 1-{MAX_TRACK_NAME}"
                       " characters", "the batch's timeline answer names its new tracks")
    batch, jobs = batch_or_404(request)
    body, media_type = await result_timeline(batch, jobs, fmt, track)
    content_type, _, charset = media_type.partition("; charset=")
    return web.Response(body=body, content_type=content_type, charset=charset or None)


async def export_batch(request: web.Request) -> web.Response:
    """Deliver a batch into a folder the editor keeps (see :mod:`kling_bridge.export`)."""
    from .routes_submit import parse_body
    from .timelines import export

    body = await parse_body(request, s.ExportIn)
    if body.format is not None and body.format not in TIMELINE_FORMATS:
        raise ApiError(400, "bad_format", f"unknown timeline format {body.format!r}",
                       f"use one of {', '.join(TIMELINE_FORMATS)}")
    batch, jobs = batch_or_404(request)
    fmt = "otio_json" if body.format == "otio" else body.format
    done = await export(batch, jobs, body.folder, fmt)
    return json_response(s.ExportOut(
        batch_id=batch["id"], folder=done.folder,
        files=[s.ExportedFileOut(job_id=f.job_id, role=f.role, source=f.source, path=f.path)
               for f in done.files],
        timelines=[s.ExportedTimelineOut(path=t.path, format=t.format, track=t.track)
                   for t in done.timelines],
        skipped=[s.SkippedOut(name=n, reason=r) for n, r in done.skipped],
        notes=done.notes))


async def presets(request: web.Request) -> web.Response:
    items = [s.PresetOut(**p) for p in services(request).presets()]
    return json_response(s.PresetListOut(presets=items))


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one ``job`` event per change, with the whole job summary.

    ``?batch=`` narrows the stream to one batch; a comment line every 15 s keeps proxies
    and idle clients from closing the stream.
    """
    sv = services(request)
    batch = request.query.get("batch")
    if batch is not None and not m.valid_id(batch):
        raise ApiError(400, "bad_id", f"not a batch id: {batch!r}", "")
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                 "X-Accel-Buffering": "no"}
    )
    await resp.prepare(request)
    await resp.write(b": kling-bridge events\n\n")
    stream = sv.engine.events.subscribe()
    try:
        while True:
            try:
                event = await asyncio.wait_for(anext(stream), SSE_HEARTBEAT_SECONDS)
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            except StopAsyncIteration:
                break
            if batch is not None and event.data.get("batch_id") != batch:
                continue
            payload = json.dumps(event.data, separators=(",", ":"))
            await resp.write(f"id: {event.id}\nevent: {event.type}\ndata: {payload}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]
    return resp


async def openapi(request: web.Request) -> web.Response:
    from .openapi import document

    return web.json_response(document(request.app))


def register(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1/health", health, name="health")
    r.add_get("/v1/jobs", list_jobs, name="list_jobs")
    r.add_get(f"/v1/jobs/{{id:{ID}}}", get_job, name="get_job")
    r.add_post(f"/v1/jobs/{{id:{ID}}}/cancel", cancel_job, name="cancel_job")
    r.add_post(f"/v1/jobs/{{id:{ID}}}/retry", retry_job, name="retry_job")
    r.add_get(f"/v1/batches/{{id:{ID}}}", get_batch, name="get_batch")
    r.add_get(f"/v1/batches/{{id:{ID}}}/timeline", batch_timeline, name="batch_timeline")
    r.add_post(f"/v1/batches/{{id:{ID}}}/export", export_batch, name="export_batch")
    r.add_get("/v1/presets", presets, name="presets")
    r.add_get("/v1/events", events, name="events")
    r.add_get("/v1/openapi.json", openapi, name="openapi")
