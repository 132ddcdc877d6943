"""The actions that chain Kling's two models, as requests built from the scene (main thread).

- *More like this* / *Next shot*: a generation that follows a strip -- the job that made it
  when it is a Kling result (the daemon passes that result and its look's words on), else
  the strip's own frames -- placed right after it on the first free channel, silent (Kling
  follows a clip only with the sound off).
- *Compare looks*: one strip restyled in several looks (each result stacked above it, as a
  restyle lands); when every look has finished, the daemon's comparison picture (the same
  frames of each look side by side, numbered) is loaded as an image and remembered with its
  columns in the scene's record.
- *Apply look to the rest*: the look of a restyled strip (the active one, or a comparison
  column, or a job id) on the other selected strips.
- *Generate then restyle*: :func:`.service.generate_request` with ``then``; only the
  restyled clip is placed.
"""

import os
from typing import Any, Dict, List, Optional, Tuple

import bpy

from . import compat, host, records, service
from .client import BridgeError

WHAT = {"style": "more like this", "next_shot": "next shot"}


def made_by(strip) -> Optional[Tuple[str, str]]:
    """(job id, kind) of the Kling job whose result ``strip`` shows, or None."""
    job = strip.get("kling_job") if strip is not None else None
    if not job:
        return None
    return str(job), str(strip.get("kling_kind") or "")


def reference_of(scene, strip, mode) -> Dict[str, Any]:
    """What a generation following ``strip`` sends: its job, else its frames."""
    made = made_by(strip)
    if made is not None and made[1] in ("restyle", "generate"):
        return {"job_id": made[0], "mode": mode}
    info = host.strip_info(scene, strip)
    if info.kind != "MOVIE" or not info.path or info.missing:
        raise BridgeError("no_reference", "%r is not a movie strip with its file on disk"
                          % strip.name, "select the movie strip to follow")
    return {"clip": {"path": info.path, "start_frame": max(0, info.source_start),
                     "frame_count": info.duration, "name": strip.name}, "mode": mode}


def follow_request(scene, strip, mode="style", prompt="", duration=5, resolution="1080p",
                   dry_run=False) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(body, placement) of a generation following ``strip``, placed where it ends."""
    if mode == "next_shot" and not prompt.strip():
        raise BridgeError("no_prompt", "a next shot needs words: what happens next",
                          "e.g. 'she turns and walks away'")
    start, length, _ = compat.timing(strip)
    end = start + length
    body = service.generate_request(scene, prompt.strip(), end, duration, "", resolution,
                                    False, dry_run=dry_run)
    body["reference"] = reference_of(scene, strip, mode)
    body["placement"]["name"] = ("%s · %s" % (strip.name, WHAT[mode]))[:60]
    return body, {"frame": end, "above": 0}


def follow(scene, strip, mode="style", prompt="", duration=5, resolution="1080p",
           on_sent=None, now=False) -> Any:
    """Send a follow request (on the worker, or ``now`` for scripts)."""
    body, where = follow_request(scene, strip, mode, prompt, duration, resolution)
    label = ("%s · %s" % (WHAT[mode], prompt or strip.name))[:60]
    if now:
        return service.send_now(scene, "/generate", body, "generate", label,
                                placement_info=where)
    service.send(scene, "/generate", body, "generate", label, placement_info=where,
                 on_sent=on_sent)
    return None


def looks_of(text) -> List[str]:
    """Preset ids from a comma-separated list (the dialog's field)."""
    return [x.strip() for x in str(text).split(",") if x.strip()]


def compare_request(scene, strip, looks, resolution="1080p", dry_run=False):
    """(body, sources, skipped) restyling ``strip`` in every look of ``looks``."""
    if len(looks) < 2:
        raise BridgeError("few_looks", "comparing needs at least two looks",
                          "list presets separated by commas, e.g. film-noir, anime-cel")
    body, sources, skipped = service.restyle_request(scene, [strip], looks[0], "",
                                                     resolution, 1, dry_run=dry_run)
    body.pop("look", None)
    body["looks"] = [{"preset": x} for x in looks]
    return body, sources, skipped


def compare(scene, strip, looks, resolution="1080p", on_sent=None, now=False) -> Any:
    body, sources, skipped = compare_request(scene, strip, looks, resolution)
    if not sources:
        raise BridgeError("empty", "%r cannot be restyled: %s" % (
            strip.name, "; ".join("%s: %s" % s for s in skipped)), "")
    label = "compare · " + ", ".join(looks)
    where = {"compare": True}
    if now:
        return service.send_now(scene, "/restyle", body, "restyle", label[:60],
                                sources=sources, placement_info=where)
    service.send(scene, "/restyle", body, "restyle", label[:60], sources=sources,
                 placement_info=where, on_sent=on_sent)
    return None


def last_comparison(scene) -> Optional[Dict[str, Any]]:
    data = host.read_record(scene)
    found = [b["comparison"] for b in data["batches"] if b.get("comparison")]
    return found[-1] if found else None


def _result_strip(scene, job_id):
    """The movie strip showing ``job_id``'s result in this scene (None: not placed here)."""
    return next((s for s in host.with_job(scene, job_id) if s.type == "MOVIE"), None)


def look_job(scene, strips, column=0, job_id="") -> Tuple[str, Any]:
    """(job id, reference strip or None) of the look to apply: ``job_id``; else a column of
    the last comparison; else the selected (or active) strip that is a restyle result."""
    if job_id:
        return job_id, _result_strip(scene, job_id)
    if column:
        last = last_comparison(scene)
        if last is None:
            raise BridgeError("no_comparison", "this scene has no comparison picture yet",
                              "run Compare Looks first")
        for col in last["columns"]:
            if int(col["index"]) == int(column):
                return col["job_id"], _result_strip(scene, col["job_id"])
        raise BridgeError("no_column", "the comparison has no look column %d" % column,
                          "its columns: " + ", ".join("%d %s" % (c["index"], c["look"])
                                                      for c in last["columns"]))
    editor = scene.sequence_editor
    active = editor.active_strip if editor is not None else None
    candidates = [s for s in strips if (made_by(s) or ("", ""))[1] == "restyle"]
    if active is not None and (made_by(active) or ("", ""))[1] == "restyle":
        candidates = [active]
    jobs = sorted({made_by(s)[0] for s in candidates})
    if len(jobs) != 1:
        raise BridgeError("which_look", "select one restyled strip (the look) with the rest"
                          if not jobs else "the selection holds %d different looks" % len(jobs),
                          "make the look's strip the active one, or give a comparison column")
    return jobs[0], candidates[0]


def apply_look_request(scene, strips, job_id, to="rest", resolution="1080p", dry_run=False,
                       reference=None):
    """(body, sources, skipped): the strips that are not Kling results, in ``job_id``'s look.

    With the look's own result strip known (``reference``), "the rest" leaves out exactly
    its source strip here and the daemon is asked for all of what is sent: its own "rest"
    would also leave out every strip cut from overlapping frames of the same file."""
    rest = [s for s in strips if made_by(s) is None]
    if reference is not None and to == "rest":
        source = reference.get(host.SOURCE_PROP)
        rest = [s for s in rest if not source or s.get(host.ID_PROP) != source]
        to = "all"
    if not rest:
        raise BridgeError("empty", "nothing to restyle besides the look's own strip",
                          "select the other strips too")
    body, sources, skipped = service.restyle_request(scene, rest, "look", "", resolution, 1,
                                                     dry_run=dry_run)
    body.pop("look", None)
    body["apply_look"] = {"job_id": job_id, "to": to}
    return body, sources, skipped


def apply_look(scene, strips, job_id, to="rest", on_sent=None, now=False,
               reference=None) -> Any:
    body, sources, skipped = apply_look_request(scene, strips, job_id, to,
                                                reference=reference)
    if not sources:
        raise BridgeError("empty", "no strip can be restyled: " + "; ".join(
            "%s: %s" % s for s in skipped), "")
    label = "look of %s" % job_id
    if now:
        return service.send_now(scene, "/restyle", body, "restyle", label, sources=sources)
    service.send(scene, "/restyle", body, "restyle", label, sources=sources, on_sent=on_sent)
    return None


# ---------------------------------------------------------------------- comparison picture


def wants_picture(record) -> bool:
    """A finished Compare Looks batch whose picture has not been asked for yet."""
    return (bool((record.get("placement") or {}).get("compare"))
            and record.get("state") in records.ENDED and not record.get("comparison")
            and not record.get("comparison_asked"))


def keep_picture(scene_name, batch_id, answer, error) -> Optional[Dict[str, Any]]:
    """The daemon's comparison answer into the record, the picture loaded as an image."""
    scene = bpy.data.scenes.get(scene_name)
    if scene is None:
        return None
    data = host.read_record(scene)
    record = records.find(data, batch_id)
    if record is None:
        return None
    if error is not None:
        record["comparison_asked"] = True
        record["notes"] = [*record.get("notes", []), "no comparison picture: %s" % error]
        host.write_record(scene, data)
        return None
    picture = (answer.get("pictures") or [None])[0]
    if picture is None:
        return None
    comparison = {"path": picture["path"], "columns": [
        {"index": c["index"], "look": c["look"], "job_id": c["job_id"]}
        for c in picture.get("columns", []) if c.get("job_id")]}
    if os.path.isfile(picture["path"]):
        image = bpy.data.images.load(picture["path"], check_existing=True)
        comparison["image"] = image.name
    record["comparison"] = comparison
    host.write_record(scene, data)
    service.memory_add(scene, data)
    return comparison


def ask_picture(scene, record, now=False) -> Optional[Dict[str, Any]]:
    """Ask the daemon for the comparison picture of ``record`` (worker, or ``now``)."""
    batch_id, scene_name = record["id"], scene.name
    record["comparison_asked"] = True  # the caller writes the record back
    if now:
        try:
            answer = service.runtime().client(start=False).compare(batch_id)
        except BridgeError as exc:
            return keep_picture(scene_name, batch_id, None, exc)
        return keep_picture(scene_name, batch_id, answer, None)
    service.runtime().submit(lambda client: client.compare(batch_id),
                             lambda answer, error: keep_picture(scene_name, batch_id,
                                                                answer, error))
    return None
