"""A finished batch delivered into a folder the editor keeps: the files, and the result
timeline that links to *those* files.

The daemon renders into its private data folder; an editor works from their own project
folders. Exporting copies every succeeded job's outputs into the folder the editor named
(``--out``, a watch folder's results folder) and writes the result timeline there -- the
editor's own document with the new tracks spliced in (:mod:`.timeline.document`) --
pointing at the copies, so the project still opens when the bridge's cache is cleared.

Nothing is ever overwritten: each file is written under a temporary name and linked into
place under the first free name (``shot.mov``, ``shot (2).mov``...), so two exports, or an
export and an editor saving at the same moment, cannot destroy each other's files.

The CLI reaches this through ``POST /v1/batches/{id}/export``; the watch folder, which runs
in the daemon, may call :func:`export_batch` directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .atomic import copy_file, place_new
from .jobs import model as m
from .specs import JobResult, spec_from_dict
from .timeline import ResultClip, TimelineError
from .timeline.document import Document, ResultFile, result_files
from .timeline.formats import canonical_format, suffix_for


@dataclass(frozen=True)
class CopiedFile:
    job_id: str
    role: str  # "video", "contact_sheet", "thumbnail", ...
    source: str  # the daemon's output
    path: str  # the copy in the export folder


@dataclass(frozen=True)
class WrittenTimeline:
    path: str
    format: str
    track: str | None = None  # EDLs: the new track this one holds


@dataclass
class Exported:
    """What an export wrote, and what it left out and why."""

    folder: str
    files: list[CopiedFile] = field(default_factory=list)
    timelines: list[WrittenTimeline] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (job label, reason)
    notes: list[str] = field(default_factory=list)


def result_clips(jobs: Sequence[m.Job]) -> list[ResultClip]:
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
        timecode = result.metadata.get("timecode")
        out.append(ResultClip(
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
            timecode=str(timecode) if timecode else None,
            width=video.width,
            height=video.height,
        ))
    return out


def export_batch(batch: dict[str, Any], jobs: Sequence[m.Job], folder: Path,
                 fmt: str | None = None) -> Exported:
    """Copy the batch's outputs into ``folder`` (created if missing) and write its result
    timeline(s) there, linking to the copies. ``fmt`` is the timeline format wanted
    (default: the editor's own)."""
    folder = Path(folder)
    if not folder.is_absolute():
        raise TimelineError("the export folder must be an absolute path", path=str(folder),
                            hint="give the full path of a folder on this machine")
    folder.mkdir(parents=True, exist_ok=True)
    done = Exported(folder=str(folder))
    copies: dict[str, str] = {}
    for job in jobs:
        if job.state is not m.JobState.SUCCEEDED or not job.result:
            done.skipped.append((job.label, f"not finished ({job.state.value})"))
            continue
        for output in JobResult.from_dict(dict(job.result)).outputs:
            source = Path(output.path)
            if not source.is_file():
                done.skipped.append((job.label, f"its {output.role} is gone from {source}"))
                continue
            copy = place_copy(source, folder)
            copies[str(source)] = str(copy)
            done.files.append(CopiedFile(job.id, output.role, str(source), str(copy)))
    request = batch.get("request") or {}
    document = request.get("document")
    if isinstance(document, dict):
        kept = Document.from_dict(document)
        results = [replace(r, path=copies[r.path]) for r in result_clips(jobs)
                   if r.path in copies]
        if results:
            for written in result_files(kept, results, fmt):
                done.timelines.append(_write_timeline(kept, written, folder))
        else:
            done.notes.append("no result timeline written: every job failed")
    elif fmt is not None:
        done.notes.append("this batch was not made from a timeline: no result timeline")
    return done


def result_name(document: Document, written: ResultFile) -> str:
    """``edit.kling.xml``; one EDL per new track: ``edit.kling.film-noir.edl``."""
    suffix = suffix_for(canonical_format(written.format))
    if document.format == "fcpx_xml" and written.format == "fcpx_xml":
        suffix = ".fcpxml"
    track = f".{_safe(written.track)}" if written.track else ""
    return f"{document.stem}.kling{track}{suffix}"


def _write_timeline(document: Document, written: ResultFile, folder: Path) -> WrittenTimeline:
    path = place_bytes(written.data, folder, result_name(document, written))
    return WrittenTimeline(str(path), written.format, written.track)


def _safe(name: str) -> str:
    """A track name as part of a file name (no separators or control characters)."""
    kept = "".join(c if c.isalnum() or c in " -_+" else "-" for c in name).strip()
    return kept or "track"


# --------------------------------------------------------------------------- placing files


def free_names(folder: Path, name: str) -> Iterator[Path]:
    """``name``, then ``stem (2).ext``, ``stem (3).ext``... (the first free one wins)."""
    target = folder / name
    yield target
    stem, suffix = target.stem, target.suffix
    number = 2
    while True:
        yield folder / f"{stem} ({number}){suffix}"
        number += 1


def place_copy(source: Path, folder: Path, name: str | None = None) -> Path:
    """``source`` copied into ``folder`` under the first free name; never overwrites. A copy,
    not a link: the editor may change the file, and the bridge's own must stay as it is."""
    return place_new(free_names(folder, name or source.name),
                     lambda tmp: copy_file(source, tmp))


def place_bytes(data: bytes, folder: Path, name: str) -> Path:
    """``data`` written into ``folder`` under the first free name; never overwrites."""
    return place_new(free_names(folder, name), lambda tmp: tmp.write_bytes(data))
