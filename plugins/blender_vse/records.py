"""The jobs a .blend remembers -- pure functions over a JSON-ready dict.

The record lives in the scene (``scene["kling_bridge_jobs"]``, a JSON string) so it is
saved with the file: when the file is opened again, unfinished batches are polled and
finished results applied, even if Blender was closed while the daemon worked. What a
record keeps is what applying needs without the daemon's help: where each source strip
was, where generated clips go, and which jobs were already applied (never twice).

A submission is recorded *before* it is sent (:func:`add_pending`: state ``sending``, the
idempotency key it is sent with, the request itself). When the daemon's answer arrives the
record becomes the batch (:func:`add_batch` with that key); when it never arrives -- the
connection dropped, Blender quit -- the request is sent again later with the same key and
the daemon answers the batch it made the first time, never a second one.
"""

import json
import time
from typing import Any, Dict, List, Optional, Tuple

PROP = "kling_bridge_jobs"
VERSION = 1
ENDED = ("succeeded", "failed", "cancelled", "partial", "needs_attention")
JOB_ENDED = ("succeeded", "failed", "cancelled", "needs_attention")


def empty() -> Dict[str, Any]:
    return {"version": VERSION, "batches": []}


def load(text: Optional[str]) -> Dict[str, Any]:
    """The record from its stored text; a damaged one starts empty (the daemon keeps jobs)."""
    if not text:
        return empty()
    try:
        data = json.loads(text)
    except ValueError:
        return empty()
    if not isinstance(data, dict) or not isinstance(data.get("batches"), list):
        return empty()
    return data


def dump(data: Dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def find(data: Dict[str, Any], batch_id: str) -> Optional[Dict[str, Any]]:
    for batch in data["batches"]:
        if batch_id and batch["id"] == batch_id:
            return batch
    return None


def find_key(data: Dict[str, Any], key: str) -> Optional[Dict[str, Any]]:
    for batch in data["batches"]:
        if key and batch.get("key") == key:
            return batch
    return None


SENDING = "sending"


def add_pending(data: Dict[str, Any], key: str, path: str, body: Dict[str, Any], kind: str,
                label: str, rate: str, sources: Optional[Dict[str, Dict[str, Any]]] = None,
                placement: Optional[Dict[str, Any]] = None, now: Optional[float] = None,
                ) -> Dict[str, Any]:
    """Remember a submission about to be sent with idempotency key ``key``."""
    record = {
        "id": "", "key": key, "kind": kind, "label": label,
        "created": time.time() if now is None else now, "state": SENDING, "rate": rate,
        "provider": "", "draft": False, "estimate_usd": 0.0,
        "sources": dict(sources or {}), "placement": dict(placement or {}), "jobs": {},
        "notes": [], "skipped": [], "request": {"path": path, "body": body},
    }
    data["batches"].append(record)
    return record


def unsent(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Submissions recorded but never answered: to send again with their key."""
    return [b for b in data["batches"] if b.get("state") == SENDING]


def drop(data: Dict[str, Any], key: str) -> None:
    """Forget a submission the daemon refused (a refusal creates nothing)."""
    data["batches"] = [b for b in data["batches"]
                       if not (b.get("key") == key and b.get("state") == SENDING)]


def _job_entry(job: Dict[str, Any]) -> Dict[str, Any]:
    spec = job.get("spec") or {}
    clip = spec.get("clip") or {}
    error = job.get("error") or {}
    return {
        "label": job.get("label", ""),
        "state": job.get("state", "queued"),
        "progress": float(job.get("progress", 0.0)),
        "estimate_usd": float((job.get("estimate") or {}).get("usd", 0.0)),
        "billed_usd": float((job.get("billed") or {}).get("usd", 0.0)),
        "provider": job.get("provider", ""),
        "error": error.get("message", "") if isinstance(error, dict) else str(error),
        "clip_id": clip.get("clip_id", ""),
        "applied": [],
    }


def add_batch(data: Dict[str, Any], answer: Dict[str, Any], kind: str, label: str,
              rate: str, sources: Optional[Dict[str, Dict[str, Any]]] = None,
              placement: Optional[Dict[str, Any]] = None, now: Optional[float] = None,
              key: str = "") -> Dict[str, Any]:
    """Remember a batch the daemon just created (``answer`` = the POST's answer); it
    replaces the pending record sent with ``key``."""
    pending = find_key(data, key)
    if pending is not None:
        data["batches"].remove(pending)
    record = {
        "id": answer["batch_id"],
        "key": key,
        "kind": kind,
        "label": label,
        "created": pending["created"] if pending else time.time() if now is None else now,
        "state": "running",
        "rate": rate,
        "provider": answer.get("provider", ""),
        "draft": bool(answer.get("draft")),
        "estimate_usd": float((answer.get("estimate") or {}).get("usd", 0.0)),
        "sources": dict(sources or {}),
        "placement": dict(placement or {}),
        "jobs": {job["id"]: _job_entry(job) for job in answer.get("jobs", [])},
        "notes": list(answer.get("notes", [])),
        "skipped": [[s.get("name", ""), s.get("reason", "")] for s in answer.get("skipped", [])],
    }
    existing = find(data, record["id"])
    if existing is not None:
        data["batches"].remove(existing)
    data["batches"].append(record)
    return record


def update(data: Dict[str, Any], status: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Fold a ``GET /v1/batches/{id}`` answer in; return the succeeded jobs not yet applied."""
    record = find(data, status["batch_id"])
    if record is None:
        return []
    record["state"] = status.get("state", record["state"])
    todo = []
    for job in status.get("jobs", []):
        entry = record["jobs"].get(job["id"])
        if entry is None:
            entry = record["jobs"][job["id"]] = _job_entry(job)
        applied = entry.get("applied", [])
        entry.update(_job_entry(job))
        entry["applied"] = applied
        if job.get("state") == "succeeded" and not applied and not entry.get("skip_apply"):
            todo.append(job)
    return todo


def mark_applied(data: Dict[str, Any], batch_id: str, job_id: str, strip_names: List[str],
                 note: str = "") -> None:
    record = find(data, batch_id)
    if record is None:
        return
    entry = record["jobs"].setdefault(job_id, {"label": "", "state": "succeeded",
                                               "progress": 1.0, "applied": []})
    entry["applied"] = list(strip_names) or ["-"]
    if note:
        entry["note"] = note


def needs_polling(record: Dict[str, Any]) -> bool:
    """Still running, or finished with results not yet on the timeline."""
    if record.get("state") == SENDING:
        return False  # no batch id to ask about yet: see unsent()
    if record.get("state") not in ENDED:
        return True
    return any(job.get("state") == "succeeded" and not job.get("applied")
               and not job.get("skip_apply") for job in record["jobs"].values())


def pending(data: Dict[str, Any]) -> List[str]:
    return [b["id"] for b in data["batches"] if needs_polling(b)]


def merge(into: Dict[str, Any], other: Dict[str, Any]) -> bool:
    """Put back batches ``other`` knows and ``into`` lost (an undo past a submit): jobs
    are facts in the daemon, not edits to undo. True when something was added."""
    changed = False
    for batch in other["batches"]:
        mine = find(into, batch["id"]) or find_key(into, batch.get("key", ""))
        if mine is None:
            into["batches"].append(json.loads(json.dumps(batch)))
            changed = True
        elif mine.get("state") == SENDING and batch.get("state") != SENDING:
            into["batches"][into["batches"].index(mine)] = json.loads(json.dumps(batch))
            changed = True  # the answer came after the undo step: keep it
    return changed


def jobs_for_list(data: Dict[str, Any]) -> List[Tuple[Dict[str, Any], str, Dict[str, Any]]]:
    """(batch, job id, job) newest batch first, for the job list."""
    out = []
    for batch in sorted(data["batches"], key=lambda b: -b.get("created", 0)):
        if batch.get("state") == SENDING:  # no job ids yet
            out.append((batch, "", {"label": batch.get("label", ""), "state": SENDING,
                                    "note": "no answer yet: asked again with the same key"}))
        for job_id, job in sorted(batch["jobs"].items()):
            out.append((batch, job_id, job))
    return out
