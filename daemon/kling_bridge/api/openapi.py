"""The OpenAPI 3.1 document, generated from the routes and the pydantic models they use.

One table (``OPERATIONS``) names, for every route, its request and answer models; the
document is built from it and from the app's router, and a test checks that the two agree
and that real answers validate against the models. Nothing here is written by hand twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

from aiohttp import web
from pydantic import BaseModel

from .. import __version__
from ..jobs import model as m
from . import schemas as s
from .inputs import PROJECT_PATTERN
from .state import SERVICES

JOB_ID = {"type": "string", "pattern": r"^j[0-9a-f]{23}$"}
BATCH_ID = {"type": "string", "pattern": r"^b[0-9a-f]{23}$"}
CHAIN_ID = {"type": "string", "pattern": r"^c[0-9a-f]{23}$"}
ELEMENT_ID = {"type": "string", "pattern": r"^e[0-9a-f]{23}$"}
STATES = "|".join(st.value for st in m.JobState)
#: The timeline answer's media type for each ``format`` (what ``media_type_for`` sends).
TIMELINE_MEDIA_TYPES = ("application/json", "application/zip", "application/xml",
                        "text/plain", "application/octet-stream")


@dataclass(frozen=True)
class Operation:
    summary: str
    request: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    status: int = 200
    content_type: str = "application/json"
    # (name, description, JSON schema) of each query parameter
    query: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    public: bool = False
    also: tuple[tuple[int, str], ...] = ()  # other success statuses with the same answer
    content_types: tuple[str, ...] = ()  # several media types (the timeline endpoint)
    id_schema: dict[str, Any] | None = None


#: (method, route name) -> operation. Route names are those given in ``register``.
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "health"): Operation("Version, provider in use, credential source (never the value)",
                                 answer=s.HealthOut),
    ("POST", "restyle"): Operation(
        "Restyle clips (O3): a timeline with clips marked, or clips by path; answers with the "
        "batch and its price (201), or only the price for a dry run (200). At most "
        f"{s.MAX_JOBS_PER_REQUEST} jobs per request.", s.RestyleIn, s.BatchOut, 201,
        also=((200, "dry run: the price, nothing created"),)),
    ("POST", "generate"): Operation(
        "Generate B-roll (3.0): prompt, image or a timeline frame, shots, duration, aspect, "
        "audio; 201 with the batch, 200 for a dry run",
        s.GenerateIn, s.BatchOut, 201, also=((200, "dry run: the price, nothing created"),)),
    ("POST", "lipsync"): Operation(
        "Lip-sync a face (video or image) to a dialogue range; 201, or 200 for a dry run",
        s.LipsyncIn, s.BatchOut, 201, also=((200, "dry run: the price, nothing created"),)),
    ("GET", "list_jobs"): Operation(
        "Jobs, newest first", answer=s.JobListOut,
        query=(
            ("state", "comma-separated states",
             {"type": "string", "pattern": f"^({STATES})(,({STATES}))*$"}),
            ("batch", "batch id", BATCH_ID),
            ("limit", "1-500, default 100", {"type": "integer", "minimum": 1, "maximum": 500}),
            ("before", "page: next_before of the last page", JOB_ID),
        )),
    ("GET", "get_job"): Operation("One job", answer=s.JobOut, id_schema=JOB_ID),
    ("POST", "cancel_job"): Operation(
        "Cancel: free while queued; once sent, Kling has no cancel and the credits are spent",
        answer=s.JobOut, id_schema=JOB_ID),
    ("POST", "retry_job"): Operation(
        "Run a failed, cancelled or unresolved job again (paid tasks are reused, not re-sent)",
        answer=s.JobOut, id_schema=JOB_ID),
    ("GET", "get_batch"): Operation("A batch: its jobs, state, price and spend",
                                    answer=s.BatchStatusOut, id_schema=BATCH_ID),
    ("GET", "batch_timeline"): Operation(
        "The batch's results as timeline edits: in the editor's own format, its document with "
        "the new tracks spliced in. OTIO JSON (application/json), otioz (application/zip), "
        "FCP XML and FCPXML (application/xml), EDL (text/plain), AAF (application/octet-stream)",
        query=(("format", "the timeline format (default otio)",
                {"type": "string", "enum": list(get_args(s.TimelineFormat))}),
               ("track", "EDLs: which new track's EDL (default: the first)",
                {"type": "string", "minLength": 1, "maxLength": 200})),
        content_types=TIMELINE_MEDIA_TYPES, id_schema=BATCH_ID),
    ("POST", "export_batch"): Operation(
        "Copy the batch's outputs into a folder the editor keeps (never overwriting: "
        "'name (2).mov') and write the result timeline there, linking to the copies",
        s.ExportIn, s.ExportOut, id_schema=BATCH_ID),
    ("GET", "presets"): Operation("Looks for menus: id, name, category, description",
                                  answer=s.PresetListOut),
    ("GET", "events"): Operation(
        "Server-sent events: `job` events carrying the whole job (JobOut)",
        content_type="text/event-stream", query=(("batch", "only this batch", BATCH_ID),)),
    ("GET", "openapi"): Operation("This document", public=True),
    ("GET", "get_chain"): Operation(
        "A chain: its links (each an ordinary job, created when the one it follows has "
        "succeeded), their states, what it costs, and -- when a link failed or was refused -- "
        "the results kept and where it stopped", answer=s.ChainOut, id_schema=CHAIN_ID),
    ("POST", "compare_batch"): Operation(
        "One comparison picture per restyled clip of the batch: the same frames of every "
        "look side by side, each column labelled with its look, price and job id (the job id "
        "is what apply_look takes)", s.CompareIn, s.CompareOut, id_schema=BATCH_ID),
    ("GET", "list_elements"): Operation(
        "Characters and products registered in a project", answer=s.ElementListOut,
        query=(("project", "project name (default: default)",
                {"type": "string", "pattern": PROJECT_PATTERN}),)),
    ("POST", "add_element"): Operation(
        "Register a character or product from 1-4 stills (copied in), named within its "
        "project; with Kling's element_id it is sent as an element, else its stills as "
        "refer_image", s.ElementIn, s.ElementOut, 201),
    ("GET", "get_element"): Operation("One element", answer=s.ElementOut,
                                      id_schema=ELEMENT_ID),
    ("POST", "rename_element"): Operation("Rename an element (unique within its project)",
                                          s.RenameIn, s.ElementOut, id_schema=ELEMENT_ID),
    ("DELETE", "remove_element"): Operation(
        "Remove an element and its copied stills (refused while unfinished jobs use it)",
        answer=s.ElementOut, id_schema=ELEMENT_ID),
}


def _schema_of(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _body_schema(media_type: str) -> dict[str, Any]:
    """JSON answers are objects; the others are text or bytes."""
    if media_type == "application/json":
        return {"type": "object"}
    if media_type in ("application/zip", "application/octet-stream"):
        return {"type": "string", "format": "binary"}
    return {"type": "string"}


def _openapi_path(app: web.Application, route: web.AbstractRoute) -> str:
    info = route.resource.get_info() if route.resource else {}
    if "path" in info:
        return str(info["path"])
    formatter = str(info.get("formatter", ""))
    return formatter


def document(app: web.Application) -> dict[str, Any]:
    components: dict[str, Any] = {}
    error_ref = _schema_of(s.ErrorAnswer, components)
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        if route.method == "HEAD" or route.name is None:
            continue
        op = OPERATIONS.get((route.method, route.name))
        if op is None:
            continue
        path = _openapi_path(app, route)
        entry: dict[str, Any] = {
            "operationId": route.name,
            "summary": op.summary,
            "responses": {
                "4XX": {"description": "refused", "content": {"application/json": {
                    "schema": error_ref}}},
            },
        }
        params = [{"name": n, "in": "query", "required": False, "description": d,
                   "schema": schema} for n, d, schema in op.query]
        if "{id}" in path:
            params.append({"name": "id", "in": "path", "required": True,
                           "schema": op.id_schema or {"type": "string",
                                                      "pattern": r"^[jb][0-9a-f]{23}$"}})
        if params:
            entry["parameters"] = params
        if op.request is not None:
            entry["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": _schema_of(op.request, components)}}}
        answer: dict[str, Any] = {"description": op.summary}
        if op.answer is not None:
            answer["content"] = {op.content_type: {"schema": _schema_of(op.answer, components)}}
        elif op.content_types:
            answer["content"] = {t: {"schema": _body_schema(t)} for t in op.content_types}
        elif op.content_type != "application/json":
            answer["content"] = {op.content_type: {"schema": {"type": "string"}}}
        else:
            answer["content"] = {"application/json": {"schema": {"type": "object"}}}
        entry["responses"][str(op.status)] = answer
        for status, description in op.also:
            entry["responses"][str(status)] = {**answer, "description": description}
        if not op.public:
            entry["security"] = [{"bearer": []}]
        paths.setdefault(path, {})[route.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kling-bridge daemon API",
            "version": __version__,
            "description": "Loopback-only API of the kling-bridge daemon. Requests need "
            "'Authorization: Bearer <token>' (token and port in the discovery file); any "
            "Origin header is refused; writes are JSON.",
        },
        # The port is the daemon's (it may be any free one): the one this daemon listens on.
        "servers": [{"url": "http://127.0.0.1:{port}", "variables": {"port": {
            "default": str(app[SERVICES].port or "47821"),
            "description": "the port in the discovery file (daemon.json)"}}}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
