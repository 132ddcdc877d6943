"""Request bodies: bounded before they are parsed, parsed off the event loop when large.

The size cap is aiohttp's ``client_max_size`` (``server.max_body_bytes``). The depth cap is
ours: a body of ``[[[[...]]]]`` thousands deep made ``json.loads`` (and everything after it
that recurses) raise ``RecursionError``, a 500. So the nesting is measured on the raw bytes
first, in C-speed steps (strings removed by one regex, brackets kept by one ``translate``,
the running depth by ``accumulate``), and a body deeper than ``MAX_JSON_DEPTH`` is refused
before ``json.loads`` sees it. ``NaN`` and ``Infinity`` (which Python's parser accepts but
JSON does not) are refused too, so no number field can hold one.

A small body (every plugin call but a whole timeline) is parsed on the loop: handing it to
a thread costs more than parsing it. A large one (an OTIO timeline sent inline) is parsed
and validated in a worker thread, so ``/v1/health`` answers while it is read.
"""

from __future__ import annotations

import asyncio
import json
import re
from itertools import accumulate
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from .schemas import MAX_CLIPS, MAX_JSON_DEPTH, MAX_LOOKS
from .security import ApiError

T = TypeVar("T", bound=BaseModel)

#: Bodies above this many bytes are parsed in a worker thread.
INLINE_PARSE_BYTES = 64 * 1024

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (strings do not count)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return max(accumulate(map(_STEP.__getitem__, brackets)))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _decode(raw: bytes) -> Any:
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(400, "too_deep", f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels",
                       "send the request shape of /v1/openapi.json; timelines nest far less")
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}",
                       "send a JSON object") from exc


#: What to do, by the name of the field that was wrong (the generic hint otherwise).
_HINTS = {
    **dict.fromkeys(("path", "timeline_path", "image", "end_image", "audio", "video",
                     "reference_image"),
                    "give the absolute path of a regular file on this machine"),
    **dict.fromkeys(("rate", "timeline_rate"),
                    "write a frame rate as 25, 24000/1001 or 23.976"),
    "preset": "GET /v1/presets lists the preset ids",
    "looks": f"at most {MAX_LOOKS} looks per request; split the request",
    "clips": f"at most {MAX_CLIPS} clips per request; split the request",
}
_SHAPE_HINT = "see /v1/openapi.json for the request shape"


def validation_message(exc: ValidationError) -> tuple[str, str]:
    """``field.path: what is wrong`` for the first problem, and what to do about it."""
    first = exc.errors(include_url=False)[0]
    loc = [str(p) for p in first["loc"]]
    where = ".".join(loc) or "body"
    msg = str(first["msg"]).removeprefix("Value error, ")
    named = [p for p in loc if not p.isdigit()]
    return f"{where}: {msg}", _HINTS.get(named[-1] if named else "", _SHAPE_HINT)


def validate(raw: bytes, model: type[T]) -> T:
    data = _decode(raw)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object",
                       "see /v1/openapi.json for the request shape")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, hint = validation_message(exc)
        raise ApiError(400, "bad_request", message, hint) from exc


async def parse_body(request: web.Request, model: type[T]) -> T:
    """The request's JSON body as ``model``, or an :class:`ApiError` saying what is wrong."""
    raw = await request.read()
    if len(raw) > INLINE_PARSE_BYTES:
        return await asyncio.to_thread(validate, raw, model)
    return validate(raw, model)
