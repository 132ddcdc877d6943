"""A finished batch -> files in ``out/``: the result clips, and for a timeline a result
timeline in the dropped timeline's format referencing those copies.

Two steps, so a crash in between neither loses nor duplicates anything:

- :func:`plan_results` (pure) names every output before anything is written -- versioned
  against what ``out/`` holds -- and the service records the plan in the ledger;
- :func:`publish` (blocking) carries it out: each clip placed under its planned name
  (temporary name, then rename; a file already there from an interrupted run is kept),
  then the timeline written if it is not there yet. Run again after a crash, it finishes.

:func:`write_result_timeline` is the one place that turns results into the editor's
timeline: the dropped document with the results spliced in (:mod:`..timeline.document`, the
same splice the daemon's export and ``GET /v1/batches/{id}/timeline`` use), linking to the
copies in ``out/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..atomic import atomic_output
from .items import Kind
from .mover import place_copy, split_name

TIMELINE_TAG = "kling"


@dataclass(frozen=True)
class Output:
    """One file of a plan: a job's video copied to ``name`` (relative to out/), or the
    result timeline (``job_id`` empty, ``source`` empty)."""

    name: str
    job_id: str = ""
    source: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Failure:
    label: str
    message: str
    hint: str = ""
    state: str = "failed"


@dataclass(frozen=True)
class Plan:
    outputs: tuple[Output, ...]
    timeline: Output | None
    timeline_format: str | None
    failures: tuple[Failure, ...]
    look: str | None = None  # the restyle folder's name: the look's name in file and track names

    def names(self) -> list[str]:
        return [o.name for o in self.outputs] + ([self.timeline.name] if self.timeline else [])

    def to_json(self) -> list[dict[str, str]]:
        rows = [o.to_dict() for o in self.outputs]
        if self.timeline is not None:
            rows.append({**self.timeline.to_dict(), "format": self.timeline_format or "",
                         "look": self.look or ""})
        return rows


def _video(job: Mapping[str, Any]) -> str | None:
    result = job.get("result") or {}
    for output in result.get("outputs", []):
        if output.get("role") == "video":
            return str(output["path"])
    return None


def _safe(text: str) -> str:
    """A file-name-safe rendering of a clip or look name."""
    cleaned = "".join(c if c.isalnum() or c in " ._-()" else "_" for c in text).strip(" .")
    return cleaned[:80] or "clip"


def _bare(name: str) -> str:
    """A clip name without its media file's extension (editors name clips after files)."""
    from .items import VIDEO

    p = PurePosixPath(name)
    return p.stem if p.suffix.lower() in VIDEO else name


def _look(job: Mapping[str, Any]) -> str:
    look = (job.get("spec") or {}).get("look") or {}
    return str(look.get("preset") or "custom")


def _variant(job: Mapping[str, Any]) -> str:
    v = int((job.get("spec") or {}).get("variant", 0) or 0)
    return f".v{v + 1}" if v else ""


def failures_of(batch: Mapping[str, Any]) -> tuple[Failure, ...]:
    out = []
    for job in batch.get("jobs", []):
        if job.get("state") == "succeeded" and _video(job):
            continue
        err = job.get("error") or {}
        message = err.get("message") or {
            "needs_attention": "the job's state at the provider is unknown and needs a person",
            "cancelled": "the job was cancelled",
        }.get(job.get("state", ""), f"the job ended {job.get('state')}")
        out.append(Failure(str(job.get("label", job.get("id"))), message,
                           err.get("hint", ""), str(job.get("state"))))
    return tuple(out)


def plan_results(kind: Kind, dropped_name: str, batch: Mapping[str, Any],
                 exists: Callable[[str], bool], timeline_format: str | None = None,
                 look: str | None = None) -> Plan:
    """Name every output of ``batch`` in out/ (``exists`` tells which names are taken).

    A clip: ``<clip>.<look>[.vN].mp4``. A generation: ``<prompt file>[.vN].mp4``. A timeline:
    ``<cut>.kling.<ext>`` plus a ``<cut>.kling-media/`` folder holding its clips, both
    versioned together (``<cut>.kling-2.xml`` with ``<cut>.kling-2-media/``).
    """
    stem, _ = split_name(dropped_name) if kind is not Kind.TIMELINE else (
        _timeline_stem(dropped_name), "")
    jobs = [j for j in batch.get("jobs", []) if j.get("state") == "succeeded" and _video(j)]
    jobs.sort(key=lambda j: str(j["id"]))
    chosen: set[str] = set()

    def free(name: str) -> str:
        base, suffix = split_name(name)
        candidate, n = name, 2
        while candidate in chosen or exists(candidate):
            candidate = f"{base}-{n}{suffix}"
            n += 1
        chosen.add(candidate)
        return candidate

    outputs: list[Output] = []
    timeline: Output | None = None
    if kind is Kind.TIMELINE:
        suffix = _timeline_suffix(dropped_name, timeline_format)
        n = 1
        while True:
            base = f"{stem}.{TIMELINE_TAG}" + (f"-{n}" if n > 1 else "")
            if not exists(base + suffix) and not exists(base + "-media"):
                break
            n += 1
        timeline = Output(base + suffix)
        media = base + "-media"
        used: set[str] = set()
        for job in jobs:
            src = _video(job) or ""
            clip = (job.get("spec") or {}).get("clip") or {}
            name = f"{_safe(_bare(clip.get('name') or PurePosixPath(src).stem))}."
            name += _safe(look or _look(job))
            name += f"{_variant(job)}{PurePosixPath(src).suffix}"
            base_name, ext = split_name(name)
            candidate, k = name, 2
            while candidate in used:
                candidate = f"{base_name}-{k}{ext}"
                k += 1
            used.add(candidate)
            outputs.append(Output(f"{media}/{candidate}", str(job["id"]), src))
    else:
        for job in jobs:
            src = _video(job) or ""
            label = f".{_safe(look or _look(job))}" if kind is Kind.CLIP else ""
            name = f"{stem}{label}{_variant(job)}{PurePosixPath(src).suffix}"
            outputs.append(Output(free(name), str(job["id"]), src))
    return Plan(tuple(outputs), timeline if outputs else None, timeline_format,
                failures_of(batch), look)


def _timeline_stem(name: str) -> str:
    stem, _ = split_name(name)
    return stem


def _timeline_suffix(dropped_name: str, fmt: str | None) -> str:
    from ..timeline import suffix_for

    if fmt:
        return suffix_for(fmt)
    suffix = PurePosixPath(dropped_name).suffix.lower()
    return ".otio" if suffix == ".otiod" else PurePosixPath(dropped_name).suffix


def plan_from_json(rows: Sequence[Mapping[str, str]]) -> Plan:
    outputs = tuple(Output(r["name"], r.get("job_id", ""), r.get("source", ""))
                    for r in rows if r.get("job_id"))
    tl = next((r for r in rows if not r.get("job_id")), None)
    timeline = Output(tl["name"]) if tl else None
    return Plan(outputs, timeline, (tl.get("format") or None) if tl else None, (),
                (tl.get("look") or None) if tl else None)


def publish(plan: Plan, out_dir: Path, source_timeline: Path | None,
            batch: Mapping[str, Any] | None) -> list[Path]:
    """Carry out ``plan`` (idempotent: safe to run again after a crash). Blocking."""
    written = []
    for output in plan.outputs:
        written.append(place_copy(Path(output.source), out_dir / output.name))
    if plan.timeline is not None and source_timeline is not None and batch is not None:
        target = out_dir / plan.timeline.name
        if not target.exists():
            paths = {o.job_id: str(out_dir / o.name) for o in plan.outputs}
            write_result_timeline(source_timeline, batch, paths, target, plan.timeline_format,
                                  plan.look)
        written.append(target)
    return written


def write_result_timeline(source: Path, batch: Mapping[str, Any], paths: Mapping[str, str],
                          target: Path, fmt: str | None, look: str | None = None) -> Path:
    """The dropped timeline plus the results (at ``paths``, by job id), written to ``target``
    in ``fmt`` (default: the dropped file's): in its own format a splice into the dropped
    document, every original element as it was. Never touches ``source``; ``target`` is
    written under a temporary name and renamed."""
    from ..timeline import read_timeline
    from ..timeline.document import keep, result_files

    read = read_timeline(source)
    clips = [c for c in (result_clip(j, paths.get(str(j["id"])), look)
                         for j in batch["jobs"]) if c]
    files = result_files(keep(read, path=source), clips, fmt, timeline=read.timeline)
    track = clips[0].track_label if clips else None
    chosen = next((f for f in files if f.track == track), files[0])  # EDL: the look's track
    with atomic_output(target) as tmp:
        inner = tmp
        if target.suffix.lower() == ".fcpxmld":  # a bundle in, a bundle out: Info.fcpxml inside
            tmp.mkdir()
            inner = tmp / "Info.fcpxml"
        inner.write_bytes(chosen.data)
    return target


def result_clip(job: Mapping[str, Any], path: str | None, look_name: str | None = None) -> Any:
    """A finished job (its API summary) as a timeline ``ResultClip`` whose media is ``path``.

    The same facts ``api.timelines.result_clips`` takes from job rows, read from the JSON
    shape both the in-process and the HTTP bridge answer with.
    """
    from ..specs import ClipRef
    from ..timeline import ResultClip

    if job.get("state") != "succeeded" or not path:
        return None
    spec = job.get("spec") or {}
    ref = spec.get("clip") or spec.get("placement")
    video = next((o for o in (job.get("result") or {}).get("outputs", [])
                  if o.get("role") == "video"), None)
    if ref is None or video is None:
        return None
    look = spec.get("look") or None
    prompt = (look or {}).get("prompt") if look is not None else spec.get("prompt", "")
    meta = (job.get("result") or {}).get("metadata") or {}
    return ResultClip(
        job_id=str(job["id"]),
        kind=str(job["kind"]),
        path=path,
        clip=ClipRef(**ref),
        look=(look_name or look.get("preset") or "custom") if look is not None else "",
        variant=int(spec.get("variant", 0) or 0),
        frames=video.get("frames"),
        rate=video.get("rate"),
        has_audio=bool(video.get("has_audio")),
        provider=str(job.get("provider", "")),
        model=str(spec.get("model", "")),
        prompt=prompt or "",
        preset=look.get("preset") if look is not None else None,
        task_id=",".join(t.get("provider_task_id") or "" for t in job.get("tasks", [])) or None,
        cost=(job.get("billed") or {}).get("units"),
        draft=bool(meta.get("draft", video.get("draft", False))),
    )
