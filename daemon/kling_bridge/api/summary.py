"""A job as the outside world sees it: the JSON shape of ``GET /v1/jobs/{id}``, of every
``/v1/events`` message and of the watch service's batch answers.

The API's concern, not the job layer's: the engine's event bus carries :class:`Job` records
and the API serialises them here, so :mod:`kling_bridge.jobs` knows nothing of JSON or
dollars. The API validates it as ``schemas.JobOut``. Never a secret: specs hold none.
Prices are given in Kling units and in US dollars (``Cost``).
"""

from __future__ import annotations

from typing import Any

from ..jobs.records import Job
from ..providers.base import Cost


def job_summary(job: Job) -> dict[str, Any]:
    """The JSON shape of a job in API answers and events."""
    return {
        "id": job.id,
        "batch_id": job.batch_id,
        "kind": str(job.kind),
        "label": job.label,
        "provider": job.provider,
        "state": str(job.state),
        "progress": round(job.progress, 4),
        "generation": job.generation,
        "attempts": job.attempts,
        "note": job.note,
        "error": job.error.as_dict() if job.error else None,
        "estimate": Cost(job.estimate_units).as_dict(),
        "billed": Cost(job.billed_units).as_dict(),
        "tasks": [
            {
                "index": t.index,
                "state": str(t.state),
                "provider_task_id": t.provider_task_id,
                "external_id": t.external_id,
                "cached": t.cached,
                "message": t.message,
            }
            for t in job.tasks
        ],
        "result": dict(job.result) if job.result is not None else None,
        "spec": dict(job.spec),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }
