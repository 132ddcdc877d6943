"""Envelopes and task answers in both standards' shapes (pure)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .state import KlingError, Task

ResultUrl = Callable[[Task, str], str]


def envelope(data: Any, message: str = "success", code: int = 0, status: int = 200
             ) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "request_id": uuid.uuid4().hex, "data": data},
        status=status,
    )


def error(exc: KlingError) -> web.Response:
    return envelope(None, exc.message, exc.code, exc.http)


def _ms(t: float) -> int:
    return int(t * 1000)


def new_item(task: Task, now: float, url: ResultUrl) -> dict[str, Any]:
    phase = task.phase(now)
    item: dict[str, Any] = {
        "id": task.id,
        "status": phase,
        "message": task.failure() if phase == "failed" else "",
        "create_time": _ms(task.created),
        "update_time": _ms(min(now, task.finished_at() or now)),
        "external_id": task.external_id or "",
        "outputs": [],
        "billing": [],
    }
    if phase == "succeeded":
        item["outputs"] = [
            {"type": "video", "id": oid, "url": url(task, oid), "watermark_url": url(task, oid),
             "duration": f"{seconds:.3f}"}
            for oid, _, seconds in task.outputs
        ]
        item["billing"] = [{"charge_type": "unit", "amount": f"{task.units:g}",
                            "package_type": "video"}]
    return item


def new_created(task: Task) -> dict[str, Any]:
    return {"id": task.id, "status": "submitted", "create_time": _ms(task.created),
            "update_time": _ms(task.created), "external_id": task.external_id or ""}


_LEGACY_PHASE = {"succeeded": "succeed"}


def legacy_data(task: Task, now: float, url: ResultUrl) -> dict[str, Any]:
    phase = task.phase(now)
    data: dict[str, Any] = {
        "task_id": task.id,
        "task_status": _LEGACY_PHASE.get(phase, phase),
        "task_status_msg": task.failure() if phase == "failed" else "",
        "task_info": {"external_task_id": task.external_id or ""},
        "created_at": _ms(task.created),
        "updated_at": _ms(min(now, task.finished_at() or now)),
    }
    if phase == "succeeded":
        data["task_result"] = {"videos": [{"id": oid, "url": url(task, oid),
                                           "duration": f"{seconds:.3f}"}
                                          for oid, _, seconds in task.outputs]}
        data["final_unit_deduction"] = f"{task.units:g}"
    return data


def legacy_created(task: Task) -> dict[str, Any]:
    return {"task_id": task.id, "task_status": "submitted",
            "task_info": {"external_task_id": task.external_id or ""},
            "created_at": _ms(task.created), "updated_at": _ms(task.created)}
