"""Chains and comparisons: ``GET /v1/chains/{id}`` and ``POST /v1/batches/{id}/compare``.

A comparison is the editor's "one reference, many looks": every restyle of one clip in a
batch (a batch of several looks, or a chain that generated the clip first), the same frames
of each side by side in one picture, each column labelled with its look, price and job id --
the job id is what "apply look X to the rest" (``POST /v1/restyle`` with ``apply_look``)
takes.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from ..jobs import model as m
from ..jobs.chains import CHAIN_ID_PATTERN
from ..media.errors import MediaError
from ..media.pictures import CompareColumn, acomparison_sheet
from ..providers.base import USD_PER_UNIT
from . import schemas as s
from .routes_jobs import batch_or_404, json_response, money
from .security import ApiError
from .state import services


async def get_chain(request: web.Request) -> web.Response:
    chain = services(request).chain_driver().describe(request.match_info["id"])
    if chain is None:
        raise ApiError(404, "not_found", f"no chain {request.match_info['id']}",
                       "chains come back in the batch answer of POST /v1/generate or "
                       "/v1/restyle")
    return json_response(s.ChainOut.model_validate(chain))


def _price(units: float, draft: bool) -> str:
    if draft:
        return "free (draft)"
    return f"{units:g} units (US${units * USD_PER_UNIT:.2f})"


def _groups(jobs: list[m.Job]) -> dict[tuple[str, int, int], list[m.Job]]:
    """Restyle jobs by the source range they restyle, in the batch's order."""
    groups: dict[tuple[str, int, int], list[m.Job]] = {}
    for job in jobs:
        if job.kind is not m.JobKind.RESTYLE:
            continue
        src = job.spec.get("source") or {}
        key = (str(src.get("path")), int(src.get("start_frame", 0)),
               int(src.get("frame_count", 0)))
        groups.setdefault(key, []).append(job)
    return groups


def _video(job: m.Job) -> str | None:
    if job.state is not m.JobState.SUCCEEDED or not job.result:
        return None
    return next((o["path"] for o in job.result.get("outputs", [])
                 if o.get("role") == "video" and Path(o["path"]).is_file()), None)


def _look(job: m.Job) -> str:
    look = job.spec.get("look") or {}
    name = look.get("preset") or "custom"
    if look.get("prompt") and look.get("preset"):
        name += " +words"
    variant = int(job.spec.get("variant", 0))
    return name + (f" v{variant + 1}" if variant else "")


async def compare(request: web.Request) -> web.Response:
    from .bodies import parse_body

    body = await parse_body(request, s.CompareIn)
    sv = services(request)
    batch, jobs = batch_or_404(request)
    groups = _groups(jobs)
    if not groups:
        raise ApiError(400, "nothing_to_compare", "this batch restyles nothing",
                       "compare a batch that restyles a clip in several looks")
    folder = sv.paths.outputs_dir / batch["id"]
    folder.mkdir(parents=True, exist_ok=True)
    pictures: list[s.ComparisonOut] = []
    notes: list[str] = []
    for (path, start, count), members in groups.items():
        draft = any(sv.engine.providers.get(j.provider) is not None
                    and sv.engine.providers[j.provider].capabilities.draft for j in members)
        columns: list[CompareColumn] = []
        out_columns: list[s.CompareColumnOut] = []
        if body.source and Path(path).is_file():
            columns.append(CompareColumn(Path(path), start, (
                "0 · source", Path(path).name[:40], f"frames {start}-{start + count - 1}"), 0))
            out_columns.append(s.CompareColumnOut(index=0, look="source", job_id=None,
                                                  state="source", estimate=money(0),
                                                  billed=money(0)))
        for number, job in enumerate(members, start=1):
            video = _video(job)
            units = job.billed_units or job.estimate_units
            state = job.state.value if video is None else "succeeded"
            lines = (f"{number} · {_look(job)}", _price(units, draft), f"job {job.id}")
            if video is None:
                lines = (lines[0], f"{state}: no picture", f"job {job.id}")
                notes.append(f"{_look(job)} (job {job.id}) is {state}: its column is dark")
            columns.append(CompareColumn(Path(video) if video else None, 0, lines, number))
            out_columns.append(s.CompareColumnOut(
                index=number, look=_look(job), job_id=job.id, state=state,
                estimate=money(job.estimate_units), billed=money(job.billed_units)))
        if not any(c.video is not None and c.number for c in columns):
            raise ApiError(409, "nothing_to_compare", f"no look of {Path(path).name} has "
                           "finished", "wait for the batch (GET /v1/batches/{id}), or retry "
                           "the failed looks")
        stem = re.sub(r"[^\w.-]+", "_", Path(path).stem)[:40] or "clip"
        dest = folder / f"compare.{stem}.f{start}-{start + count - 1}.{len(members)}looks.png"
        try:
            picture, offsets = await acomparison_sheet(columns, count, dest,
                                                       frames=body.frames,
                                                       tile_width=body.tile_width)
        except MediaError as exc:
            raise ApiError(400, exc.code, exc.message, exc.hint) from exc
        pictures.append(s.ComparisonOut(path=str(picture), source=path, start_frame=start,
                                        frame_count=count, frames=offsets,
                                        columns=out_columns))
    return json_response(s.CompareOut(batch_id=batch["id"], pictures=pictures, notes=notes))


def register(app: web.Application) -> None:
    r = app.router
    r.add_get(f"/v1/chains/{{id:{CHAIN_ID_PATTERN}}}", get_chain, name="get_chain")
    r.add_post(f"/v1/batches/{{id:{m.ID_PATTERN}}}/compare", compare, name="compare_batch")


__all__ = ["register"]
