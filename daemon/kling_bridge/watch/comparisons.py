"""A ``compare/`` drop's extras: its comparison picture in ``out/``, and one ``apply-look/``
folder per look compared, so "apply look X to the rest" is a drag onto a folder.

The picture is the daemon's (``POST /v1/batches/{id}/compare``: the same frames of every
look side by side, each column numbered and labelled with its look, price and job id). Each
folder is named after the compared clip, the column's number and the look -- what the editor
reads on the picture -- and holds a ``kling-bridge.toml`` naming the look's job
(``apply_look = "j..."``): the daemon takes the look and the settings that made it from that
job. Folders are only ever added; a settings file the editor changed is never rewritten.

:func:`picture_output` is pure; :func:`lay_out_apply_look` writes (blocking, idempotent: run
again after a crash it adds only what is missing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from .layout import APPLY_LOOK, README, SETTINGS_FILE, Layout, _write_new
from .mover import split_name
from .results import Output, Plan, _look, _safe

PICTURE_TAG = "compare"


def with_picture(plan: Plan, stem: str, batch_id: str, answer: Mapping[str, Any],
                 taken: Callable[[str], bool]) -> Plan:
    """``plan`` with the comparison picture(s) of ``answer`` added as outputs (recorded with
    the batch id in place of a job id, so a plan read back keeps them as outputs)."""
    outputs = list(plan.outputs)
    chosen = {o.name for o in outputs}
    for n, picture in enumerate(answer.get("pictures", []), start=1):
        name = f"{stem}.{PICTURE_TAG}" + (f".{n}" if n > 1 else "") + ".png"
        base, suffix = split_name(name)
        candidate, k = name, 2
        while candidate in chosen or taken(candidate):
            candidate = f"{base}-{k}{suffix}"
            k += 1
        chosen.add(candidate)
        outputs.append(Output(candidate, batch_id, str(picture["path"])))
    return Plan(tuple(outputs), plan.timeline, plan.timeline_format, plan.failures, plan.look)


def columns(batch: Mapping[str, Any]) -> list[tuple[int, str, str]]:
    """(column number, look, job id) of each restyle that finished, numbered as on the
    picture (the batch's restyles in order, the source being column 0)."""
    restyles = [j for j in batch.get("jobs", []) if j.get("kind") == "restyle"]
    return [(n, _look(j), str(j["id"])) for n, j in enumerate(restyles, start=1)
            if j.get("state") == "succeeded"]


def folder_name(stem: str, number: int, look: str) -> str:
    return _safe(f"{stem} {number} {look}")


def lay_out_apply_look(layout: Layout, dropped: PurePosixPath,
                       batch: Mapping[str, Any]) -> list[Path]:
    """One ``apply-look/<clip> <n> <look>/`` folder per finished look of the comparison of
    ``dropped`` (its README and settings written only when missing). Blocking."""
    stem, _ = split_name(dropped.name)
    made = []
    for number, look, job_id in columns(batch):
        folder = layout.root / APPLY_LOOK / folder_name(stem, number, look)
        folder.mkdir(parents=True, exist_ok=True)
        _write_new(folder / SETTINGS_FILE, settings_text(dropped.name, number, look, job_id))
        _write_new(folder / README, readme_text(dropped.name, number, look, job_id))
        made.append(folder)
    return made


def settings_text(clip: str, number: int, look: str, job_id: str) -> str:
    return (f"# Made by the comparison of {clip}: column {number}, {look}.\n"
            f"# Clips and timelines dropped in this folder are restyled in that look, with the\n"
            f"# settings that made it (resolution, model, reference image).\n"
            f'apply_look = "{job_id}"\n'
            f'# apply_to = "rest"   # "rest": leave out {clip} itself; "all": include it\n'
            f'# select = "all"      # for timelines, as everywhere\n')


def readme_text(clip: str, number: int, look: str, job_id: str) -> str:
    return (f"Drop the rest of your clips here -- or the whole timeline, exported as for\n"
            f"restyle/ -- to restyle them in look {number} of {clip}'s comparison picture:\n"
            f"{look} (job {job_id}).\n"
            f"A timeline comes back as a result timeline with the restyled clips on a new\n"
            f"track; {clip} itself is left out unless {SETTINGS_FILE} here says\n"
            f'apply_to = "all".\n')


def picture_names(plan_outputs: Sequence[Output], batch_id: str) -> list[str]:
    return [o.name for o in plan_outputs if o.job_id == batch_id]
