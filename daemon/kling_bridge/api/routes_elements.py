"""Characters and products (elements), per project: ``/v1/elements``.

Registered from stills (copied into the bridge's data folder), named, listed, renamed and
removed; a generation uses them by name (``POST /v1/generate`` with ``characters`` and
``project``). See :mod:`kling_bridge.elements`.
"""

from __future__ import annotations

import re

from aiohttp import web

from ..elements import DEFAULT_PROJECT, ID_PATTERN, Element, ElementError
from ..fileguard import UnsafeFile, regular_file
from . import schemas as s
from .bodies import parse_body
from .inputs import PROJECT_PATTERN
from .routes_jobs import json_response
from .security import ApiError
from .state import services

_PROJECT = re.compile(PROJECT_PATTERN)


def _out(element: Element) -> s.ElementOut:
    return s.ElementOut.model_validate(element.as_dict())


def _error(exc: ElementError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.hint)


async def list_elements(request: web.Request) -> web.Response:
    project = request.query.get("project", DEFAULT_PROJECT)
    if not _PROJECT.match(project):
        raise ApiError(400, "bad_project", f"{project[:80]!r} is not a project name",
                       "letters, digits, space . _ - (at most 64)")
    found = services(request).element_register().all(project)
    return json_response(s.ElementListOut(project=project, elements=[_out(e) for e in found]))


async def add_element(request: web.Request) -> web.Response:
    body = await parse_body(request, s.ElementIn)
    for path in body.images:
        try:
            regular_file(path, what="still")
        except UnsafeFile as exc:
            code = "media_missing" if exc.code == "missing" else "bad_path"
            raise ApiError(400, code, f"{exc.path}: {exc.problem}", exc.hint) from exc
    try:
        element = await services(request).element_register().add(
            body.name, list(body.images), project=body.project, element_id=body.element_id,
            description=body.description)
    except ElementError as exc:
        raise _error(exc) from exc
    return json_response(_out(element), status=201)


async def get_element(request: web.Request) -> web.Response:
    try:
        element = services(request).element_register().get(request.match_info["id"])
    except ElementError as exc:
        raise _error(exc) from exc
    return json_response(_out(element))


async def rename_element(request: web.Request) -> web.Response:
    body = await parse_body(request, s.RenameIn)
    try:
        element = await services(request).element_register().rename(
            request.match_info["id"], body.name)
    except ElementError as exc:
        raise _error(exc) from exc
    return json_response(_out(element))


async def remove_element(request: web.Request) -> web.Response:
    try:
        element = await services(request).element_register().remove(request.match_info["id"])
    except ElementError as exc:
        raise _error(exc) from exc
    return json_response(_out(element))


def register(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1/elements", list_elements, name="list_elements")
    r.add_post("/v1/elements", add_element, name="add_element")
    r.add_get(f"/v1/elements/{{id:{ID_PATTERN}}}", get_element, name="get_element")
    r.add_post(f"/v1/elements/{{id:{ID_PATTERN}}}/rename", rename_element,
               name="rename_element")
    r.add_delete(f"/v1/elements/{{id:{ID_PATTERN}}}", remove_element, name="remove_element")
