"""Field types for the API's requests: every value checked where it enters, never later.

A value that parses late fails late: a rate of ``1/0`` accepted at the door used to become
a job that failed as "internal error", or a batch whose timeline answered 500 for ever
after. So each kind of field the requests carry has one annotated type here, with its
check and its JSON-schema pattern, and the request models (``schemas.py``) use them: what
reaches a job row is already known good, and the OpenAPI document says what is accepted.

The checks on *files* (does it exist, is it a regular file) need the disk and live in
:mod:`kling_bridge.fileguard`; the ones here look at the text only, so they are cheap and
run in the request's parse.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Annotated, Any

from pydantic import AfterValidator, Field, JsonValue

from ..fileguard import path_problem

#: Largest numerator/denominator a rate may have, and the range of frames per second.
RATE_PATTERN = r"^[0-9]{1,7}(?:/[0-9]{1,7}|\.[0-9]{1,6})?$"
MIN_FPS = Fraction(1)
MAX_FPS = Fraction(1000)
_RATE = re.compile(RATE_PATTERN)
_NTSC = (24, 30, 48, 60, 120, 240)


def normalise_rate(value: str) -> str:
    """``"24000/1001"``, ``"25"``, ``"23.976"`` -> the exact text the job layer stores.

    Decimal NTSC spellings (23.976, 29.97, 59.94) snap to their rationals, as editors
    mean them. Zero, negative, non-numeric and absurd rates are refused with what was wrong.
    """
    text = value.strip()
    if not _RATE.match(text):
        raise ValueError(
            f"{value!r} is not a frame rate: write it as a whole number ('25'), an exact "
            "fraction ('24000/1001') or a decimal ('23.976')"
        )
    if "/" in text:
        num, den = (int(p) for p in text.split("/"))
        if den == 0:
            raise ValueError(f"{value!r} divides by zero")
        rate = Fraction(num, den)
    elif "." in text:
        approx = float(text)
        rate = Fraction(text)
        for n in _NTSC:
            if abs(approx - n * 1000 / 1001) < 0.005:
                rate = Fraction(n * 1000, 1001)
                break
        else:
            rate = rate.limit_denominator(1001)
    else:
        rate = Fraction(int(text))
    if not MIN_FPS <= rate <= MAX_FPS:
        raise ValueError(f"{value!r} is outside {MIN_FPS}-{MAX_FPS} frames per second")
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def check_path(value: str) -> str:
    problem = path_problem(value)
    if problem:
        raise ValueError(f"the path {problem}")
    return value


def check_text(value: str) -> str:
    """Free words (prompts, names): any language, no control characters but tab/newline."""
    if _CONTROL.search(value):
        raise ValueError("contains control characters (a NUL byte or similar); remove them")
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

def _matching(pattern: str, what: str) -> AfterValidator:
    """A pattern check that says what was expected (pydantic's own says only the regex)."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"{value[:80]!r} is not {what}")
        return value

    return AfterValidator(check)


def _schema(pattern: str, description: str, **extra: JsonValue) -> Any:
    """Field metadata publishing ``pattern`` in the OpenAPI document (checked by _matching)."""
    schema: dict[str, JsonValue] = {"pattern": pattern, **extra}
    return Field(description=description, json_schema_extra=schema)


Rate = Annotated[
    str,
    _schema(RATE_PATTERN, "frame rate: '25', '24000/1001' or '23.976' (1 to 1000 fps)",
            maxLength=15, examples=["24000/1001", "25"]),
    AfterValidator(normalise_rate),
]

LocalPath = Annotated[
    str,
    _schema(r"^/", "absolute path of a file on the daemon's machine (regular files only: no "
            "devices, pipes, /proc or /sys)", minLength=1, maxLength=4096),
    AfterValidator(check_path),
]

Prompt = Annotated[str, Field(max_length=2500), AfterValidator(check_text)]
ShotPrompt = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(check_text)]
Name = Annotated[str, Field(max_length=200), AfterValidator(check_text)]

#: Preset ids are file names in the presets folder (media.presets): lower-case, digits, dashes.
PRESET_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
PresetId = Annotated[str, _schema(PRESET_PATTERN, "preset id, e.g. film-noir (GET /v1/presets)"),
                     _matching(PRESET_PATTERN, "a preset id (GET /v1/presets lists them)")]

#: Provider names the engine knows (the draft provider, Kling; tests add their own).
PROVIDER_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
ProviderName = Annotated[str, _schema(PROVIDER_PATTERN, "provider name, e.g. draft or kling"),
                         _matching(PROVIDER_PATTERN, "a provider name (draft or kling)")]

#: Model names as the providers spell them (kling-3.0-omni, kling-v3, draft-look).
MODEL_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
ModelName = Annotated[str, _schema(MODEL_PATTERN, "model, e.g. kling-3.0-omni or kling-3.0"),
                      _matching(MODEL_PATTERN, "a model name such as kling-3.0-omni")]

#: A caller's key for repeating a submission safely (the watch folder's are "watch:HEX:N").
IDEMPOTENCY_PATTERN = r"^[A-Za-z0-9._:-]{1,200}$"
IdempotencyKey = Annotated[
    str, _schema(IDEMPOTENCY_PATTERN, "repeat a submission safely: the same key answers the "
                 "batch it created"),
    _matching(IDEMPOTENCY_PATTERN, "letters, digits and . _ : - (at most 200)")]

#: A select value (colour, track name, marker text) and a range end (frames or timecode).
SelectValue = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_text)]
RANGE_END_PATTERN = r"^(?:[0-9]{1,9}|[0-9]{1,2}[:;][0-9]{2}[:;][0-9]{2}[:;.][0-9]{2,3})$"
RangeEnd = Annotated[
    str,
    _schema(RANGE_END_PATTERN, "a frame number (240) or a timecode (01:00:10:00)"),
    _matching(RANGE_END_PATTERN, "a frame number (240) or a timecode (01:00:10:00)"),
]

#: A job's id (j + 23 hex digits), e.g. the restyle whose look B-roll follows.
JOB_ID_PATTERN = r"^j[0-9a-f]{23}$"
JobId = Annotated[str, _schema(JOB_ID_PATTERN, "a job id (kling-bridge jobs lists them)"),
                  _matching(JOB_ID_PATTERN, "a job id such as j0190a3c2e4f5a6b7c8d9e0f1")]

#: A project characters are kept in: a name the caller gives ("default" when none).
PROJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$"
ProjectName = Annotated[str, _schema(PROJECT_PATTERN, "project name: letters, digits, space . _ -"),
                        _matching(PROJECT_PATTERN, "a project name (letters, digits, space . _ -, "
                                  "at most 64)")]

#: A character's or product's name, as editors write it (any language, no control chars).
CharacterName = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(check_text)]

#: An element id from Kling's own tools (the API documents no way to create one).
ELEMENT_REF_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
ElementRef = Annotated[str, _schema(ELEMENT_REF_PATTERN, "Kling element_id (from Kling's tools)"),
                       _matching(ELEMENT_REF_PATTERN, "an element id (letters, digits . _ : -)")]
