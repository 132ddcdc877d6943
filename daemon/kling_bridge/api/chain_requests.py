"""Requests that chain the two models, turned into chains (see :mod:`kling_bridge.jobs.chains`).

- ``POST /v1/generate`` with ``then``: generate, then restyle each clip in those looks; only
  the restyled clips are placed.
- ``POST /v1/generate`` with ``reference.job_id``: more like this / next shot of a job's
  result, waiting for that job when it has not finished; the batch keeps that job's
  timeline, so the B-roll lands in the editor's own document.
- ``POST /v1/restyle`` with ``more_like_this``: restyle, then B-roll in each clip's look,
  after the clip, in the gap after it, or at the ``kling:`` markers.

Each answer prices every link before anything is spent; a dry run lists every link's job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..elements import ElementError
from ..jobs import model as m
from ..jobs.chain_model import PENDING_SOURCE, LinkPlan, pending_source
from ..jobs.chains import Submitted
from ..jobs.engine import EngineError
from ..specs import (
    ClipRef,
    ConformTarget,
    GenerateSpec,
    Look,
    RestyleSpec,
    SourceRange,
    parse_rate,
)
from . import schemas as s
from .routes_jobs import engine_error, job_out, money
from .security import ApiError
from .state import Services


def element_error(exc: ElementError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.hint)


def character_fields(sv: Services, names: Sequence[str], project: str) -> dict[str, Any]:
    """The stills (and Kling element ids) of the named characters, as GenerateSpec fields:
    stills of characters without an element id go as ``refer_images``; those with one as
    ``elements``, their stills kept beside for providers that take no element ids."""
    register = sv.element_register()
    refer: list[str] = []
    ids: list[str] = []
    element_stills: list[str] = []
    labels_refer: list[str] = []
    labels_element: list[str] = []
    seen: set[str] = set()
    for name in names:
        try:
            element = register.named(name, project)
        except ElementError as exc:
            raise element_error(exc) from exc
        if element.id in seen:
            continue
        seen.add(element.id)
        if element.element_id:
            ids.append(element.element_id)
            element_stills += element.images
            labels_element += [element.name] * len(element.images)
        else:
            refer += element.images
            labels_refer += [element.name] * len(element.images)
    if not seen:
        return {}
    return {"refer_images": tuple(refer), "elements": tuple(ids),
            "element_stills": tuple(element_stills),
            "still_labels": tuple(labels_refer + labels_element)}


def reference_fields(ref: s.ReferenceIn | None, audio: bool) -> dict[str, Any]:
    """GenerateSpec fields of a reference: the clip itself, or -- for a job's result, not
    known yet -- a placeholder that prices the task as "with a video input"."""
    if ref is None:
        return {}
    if (ref.job_id is None) == (ref.clip is None):
        raise ApiError(400, "bad_reference", "a reference is a job_id or a clip (one of them)",
                       "e.g. {\"job_id\": \"j...\", \"mode\": \"style\"}")
    if ref.mode == "next_shot" and ref.send_as == "frame":
        raise ApiError(400, "bad_reference", "a next shot follows its clip as a video",
                       "leave send_as at 'video' for a next shot")
    if ref.send_as == "video" and audio:
        raise ApiError(400, "bad_audio", "a generation that follows a clip is silent: Kling "
                       "takes a feature_video only with the sound off",
                       "leave audio off (or send the reference as a frame)")
    path = ref.clip.path if ref.clip is not None else PENDING_SOURCE
    if ref.send_as == "frame":
        return {"style_image": path}
    fields: dict[str, Any] = {"feature_video": path, "feature_mode": ref.mode}
    if ref.clip is not None:
        fields["feature_start"] = ref.clip.start_frame or 0
        fields["feature_frames"] = ref.clip.frame_count
    return fields


def omni_model(sv: Services, asked: str | None, spec_fields: dict[str, Any]) -> str | None:
    """References need the omni model; it is chosen when none was asked for, and a model that
    takes none is refused (elements alone go to 3.0 with a first frame too)."""
    references = any(spec_fields.get(k) for k in ("feature_video", "style_image",
                                                   "refer_images", "elements"))
    if not references:
        return asked
    edit_model = sv.settings.kling.edit_model
    if asked is None:
        return edit_model
    if "omni" not in asked and asked != "kling-o1":
        raise ApiError(400, "bad_model", f"{asked} takes no reference clips or stills",
                       f"leave the model out (references use {edit_model})")
    return asked


def _clip_at(placement: ClipRef | None, name: str) -> ClipRef | None:
    """Where a generated-then-restyled clip goes: the generation's placement (its length is
    the generated clip's, known when the restyle starts)."""
    if placement is None:
        return None
    return ClipRef(clip_id=f"generated:{placement.clip_id}", name=name,
                   track_index=placement.track_index, record_start=placement.record_start,
                   timeline_rate=placement.timeline_rate)


def generate_plans(sv: Services, body: s.GenerateIn, specs: Sequence[GenerateSpec],
                   labels: Sequence[str], looks: Sequence[Look]) -> list[LinkPlan]:
    """Each generation (after the reference job when there is one), then its restyles."""
    parent = body.reference.job_id if body.reference is not None else None
    feed = "frame" if body.reference is not None and body.reference.send_as == "frame" else (
        "feature")
    plans: list[LinkPlan] = []
    for spec, label in zip(specs, labels, strict=True):
        index = len(plans)
        placed = spec.placement
        gen = replace(spec, placement=None) if looks else spec
        plans.append(LinkPlan(m.JobKind.GENERATE, gen, label, after_job=parent,
                              feed=feed if parent else "source"))
        for look in looks:
            restyle = RestyleSpec(
                source=pending_source(spec.duration), look=look, resolution=body.resolution,
                model=sv.settings.kling.edit_model, keep_audio=True,
                clip=_clip_at(placed, f"{label} · {look.label}"))
            plans.append(LinkPlan(m.JobKind.RESTYLE, restyle, f"{label} · {look.label}",
                                  after=index, feed="source"))
    return plans


def _nearest_before(marker: ClipRef, restyles: Sequence[tuple[int, ClipRef]]) -> int:
    """The restyle link whose clip starts last at or before the marker (else the first)."""
    before = [(ref.record_start, n) for n, ref in restyles
              if ref.record_start <= marker.record_start]
    return max(before)[1] if before else restyles[0][0]


def restyle_plans(sv: Services, body: s.RestyleIn,
                  restyles: Sequence[tuple[RestyleSpec, str]],
                  generations: Sequence[GenerateSpec], timeline_json: str | None,
                  notes: list[str]) -> list[LinkPlan]:
    """Each restyle, then B-roll in its look (after it, in the gap after it), or the
    markers' B-roll fed by the nearest restyled clip before each."""
    mlt = body.more_like_this
    assert mlt is not None
    plans: list[LinkPlan] = []
    firsts: list[tuple[int, ClipRef]] = []  # one restyle link per clip, for markers
    seen: set[str] = set()
    feed = "frame" if mlt.send_as == "frame" else "feature"
    timeline = _timeline(timeline_json) if mlt.place == "gap" else None
    for spec, label in restyles:
        index = len(plans)
        plans.append(LinkPlan(m.JobKind.RESTYLE, spec, label))
        ref = spec.clip
        if ref is not None and ref.clip_id not in seen:
            seen.add(ref.clip_id)
            firsts.append((index, ref))
        if mlt.place == "markers":
            continue
        broll = _broll(sv, body, mlt.duration)
        if mlt.place == "gap" and ref is not None:
            broll = _in_gap(broll, ref, timeline, notes)
        plans.append(LinkPlan(m.JobKind.GENERATE, broll, f"{label} · more like this",
                              after=index, feed=feed))
    for marker in generations:
        if mlt.place == "markers" and firsts and marker.placement is not None:
            after = _nearest_before(marker.placement, firsts)
            template = replace(marker, **_reference_template(mlt.send_as), audio=False,
                               model=sv.settings.kling.edit_model)
            plans.append(LinkPlan(m.JobKind.GENERATE, template,
                                  f"B-roll · {marker.prompt[:40]} · in its look", after=after,
                                  feed=feed))
        else:
            plans.append(LinkPlan(m.JobKind.GENERATE, marker, f"B-roll · {marker.prompt[:40]}"))
    if mlt.place == "markers" and not generations:
        raise ApiError(400, "no_markers", "more_like_this.place is 'markers' but the timeline "
                       "has no kling: markers", "add markers whose note starts with 'kling:', "
                       "or place the B-roll 'after' the clips")
    return plans


def _reference_template(send_as: str) -> dict[str, Any]:
    if send_as == "frame":
        return {"style_image": PENDING_SOURCE}
    return {"feature_video": PENDING_SOURCE, "feature_mode": "style"}


def _broll(sv: Services, body: s.RestyleIn, duration: int) -> GenerateSpec:
    mlt = body.more_like_this
    assert mlt is not None
    return GenerateSpec(prompt=mlt.prompt, duration=duration,
                        resolution=mlt.resolution or body.resolution, audio=False,
                        model=sv.settings.kling.edit_model, **_reference_template(mlt.send_as))


def _timeline(text: str | None) -> Any:
    if not text:
        return None
    import opentimelineio as otio

    return otio.adapters.read_from_string(text, "otio_json")


def _in_gap(broll: GenerateSpec, ref: ClipRef, timeline: Any, notes: list[str]
            ) -> GenerateSpec:
    """The B-roll sized and placed to fill the gap after ``ref`` on its track."""
    from ..timeline.gaps import gap_after

    rate = parse_rate(ref.timeline_rate)
    found = (gap_after(timeline, ref.track_index, ref.record_start + ref.record_duration, rate)
             if timeline is not None else None)
    if found is None:
        notes.append(f"{ref.name!r}: no gap after it on its track; its B-roll goes right "
                     "after it")
        return broll
    start, length = found
    seconds = min(15, max(3, math.ceil(length / rate)))
    frames = min(length, round(15 * rate))
    placement = ClipRef(clip_id=f"gap:{ref.clip_id}", name=f"{ref.name} · more like this",
                        track_index=-1, record_start=start, record_duration=frames,
                        timeline_rate=ref.timeline_rate)
    return replace(broll, duration=seconds, placement=placement,
                   conform=ConformTarget(ref.timeline_rate, 0, 0, frames=frames))


async def chain_answer(sv: Services, plans: Sequence[LinkPlan], *, kind: str,
                       provider: str | None, dry_run: bool, request: dict[str, Any],
                       skipped: Sequence[s.SkippedOut] = (), notes: Sequence[str] = (),
                       idempotency_key: str | None = None) -> tuple[s.BatchOut, int]:
    """Record the chain (or price it) and answer as a batch, with the chain's links."""
    if len(plans) > s.MAX_JOBS_PER_REQUEST:
        from .routes_submit import too_many_jobs

        raise too_many_jobs(len(plans))
    try:
        prov = sv.engine.provider(provider)
        if idempotency_key is not None:
            request = {**request, "idempotency_key": idempotency_key}
        done: Submitted = await sv.chain_driver().submit(
            plans, kind=kind, provider=provider, request=request, dry_run=dry_run)
    except EngineError as exc:
        raise engine_error(exc) from exc
    said = [*notes, f"a chain of {len(plans)} links: each starts when the one it follows "
            "has succeeded; the estimate prices them all"]
    base: dict[str, Any] = {"provider": prov.name, "paid": prov.capabilities.paid,
                            "draft": prov.capabilities.draft,
                            "estimate": money(done.estimate_units), "skipped": list(skipped),
                            "notes": said}
    if dry_run:
        planned = [s.JobOut.model_validate({**m.job_summary(j), "state": "planned"})
                   for j in done.jobs]
        return s.BatchOut(batch_id=None, jobs=planned, dry_run=True, **base), 200
    assert done.chain_id is not None and done.batch_id is not None
    chain = sv.chain_driver().describe(done.chain_id)
    return s.BatchOut(batch_id=done.batch_id, jobs=[job_out(j) for j in done.jobs],
                      chains=[s.ChainOut.model_validate(chain)] if chain else [], **base), 201


def parent_request(sv: Services, job_id: str) -> dict[str, Any]:
    """The batch request of the job a generation follows: its timeline and the editor's
    document go along, so the new clip lands in the same cut."""
    job = sv.engine.store.get(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}", "list jobs with GET /v1/jobs")
    batch = sv.engine.store.batch(job.batch_id) or {}
    request = dict(batch.get("request") or {})
    request.pop("idempotency_key", None)
    return request


def apply_look(sv: Services, body: s.RestyleIn) -> tuple[Look, dict[str, Any], RestyleSpec]:
    """The look of an earlier restyle job, with the settings that made it."""
    assert body.apply_look is not None
    job = sv.engine.store.get(body.apply_look.job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {body.apply_look.job_id}",
                       "the comparison picture names each look's job")
    if job.kind is not m.JobKind.RESTYLE:
        raise ApiError(400, "bad_reference", f"job {job.id} is a {job.kind.value}, not a "
                       "restyle", "pick a restyle job (a column of the comparison picture)")
    if body.looks or body.look.preset or body.look.prompt:
        raise ApiError(400, "bad_request", "give apply_look or a look, not both",
                       "apply_look takes the look from the job")
    from ..specs import spec_from_dict

    spec = spec_from_dict("restyle", dict(job.spec))
    assert isinstance(spec, RestyleSpec)
    settings = {"resolution": spec.resolution, "model": spec.model,
                "keep_audio": spec.keep_audio, "reference_image": spec.reference_image}
    return spec.look, settings, spec


def overlaps(a: SourceRange, b: SourceRange) -> bool:
    """The same frames of the same file (the reference clip, again)?"""
    return (a.path == b.path and a.start_frame < b.start_frame + b.frame_count
            and b.start_frame < a.start_frame + a.frame_count)
