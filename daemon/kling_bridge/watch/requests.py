"""A dropped item and its settings -> the daemon API request that does its work (pure).

The bodies are exactly what ``POST /v1/restyle`` and ``POST /v1/generate`` take (the same
ones ``kling-bridge restyle``/``generate`` send), so the watch folder has no job logic of its
own: selection rules, probing, pricing and the engine are the daemon's. Prompt files are
read by the caller and passed in as text.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .items import Kind
from .layout import (
    APPLY_LOOK,
    COMPARE,
    GENERATE_THEN,
    MORE_LIKE_THIS,
    NEXT_SHOT,
    SETTINGS_FILE,
    Route,
)
from .settings import Effective, select_body


class ItemProblem(Exception):
    """Why an item cannot be done, and what to do (it goes to failed/ with both)."""

    def __init__(self, problem: str, hint: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


class _Shot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(..., min_length=1, max_length=512)
    duration: int = Field(..., ge=1, le=15)


class PromptFile(BaseModel):
    """A ``.json``/``.toml`` prompt in ``generate/`` (unset fields: the folder's settings)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    prompt: str = Field("", max_length=2500)
    negative_prompt: str | None = Field(None, max_length=2500)
    duration: int | None = Field(None, ge=3, le=15)
    aspect: Literal["16:9", "9:16", "1:1"] | None = Field(None, alias="aspect_ratio")
    audio: bool | None = None
    shots: list[_Shot] = Field(default_factory=list, max_length=6)
    resolution: Literal["720p", "1080p", "4k"] | None = None
    variants: int | None = Field(None, ge=1, le=8)


@dataclass(frozen=True)
class Request:
    verb: Literal["restyle", "generate"]
    body: dict[str, Any]


def _common(settings: Effective) -> dict[str, Any]:
    body: dict[str, Any] = {"resolution": settings.resolution, "variants": settings.variants,
                            "provider": settings.provider}
    if settings.model:
        body["model"] = settings.model
    return body


def look_of(route: Route, settings: Effective, presets: Collection[str]) -> dict[str, Any]:
    """The look a ``restyle/<name>/`` folder stands for: its preset, its words, or both."""
    preset = settings.preset or route.look
    if preset in presets or (settings.preset and not presets):
        return {"preset": preset, "prompt": settings.prompt}
    if settings.prompt:
        return {"preset": None, "prompt": settings.prompt}
    known = ", ".join(sorted(presets)) or "(none loaded)"
    raise ItemProblem(
        f"{route.kind}/{route.look}/ is not a look: no preset is called {route.look!r}, and "
        f"no prompt is set for that folder",
        f"drop it into a preset's folder ({known}), or write prompt = \"...\" in "
        f"{route.kind}/{route.look}/{SETTINGS_FILE}",
    )


def restyle_request(kind: Kind, route: Route, work: Path, settings: Effective,
                    presets: Collection[str]) -> Request:
    body = {**_common(settings), "looks": [look_of(route, settings, presets)],
            "keep_audio": settings.keep_audio}
    if kind is Kind.TIMELINE:
        body["timeline_path"] = str(work)
        body["select"] = select_body(settings.select, settings.handles)
    else:
        body["clips"] = [{"path": str(work)}]
        body["select"] = {"handles": settings.handles}
    return Request("restyle", body)


def parse_prompt_file(name: str, text: str) -> PromptFile:
    suffix = PurePosixPath(name).suffix.lower()
    try:
        data = json.loads(text) if suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        what = "JSON" if suffix == ".json" else "TOML"
        raise ItemProblem(f"{name} is not valid {what}: {exc}",
                          "fix the file (a text editor shows the line) and drop it again") from exc
    if not isinstance(data, dict):
        raise ItemProblem(f"{name} must hold an object with prompt, duration, aspect...",
                          'e.g. {"prompt": "rain on a tin roof", "duration": 5}')
    try:
        return PromptFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        msg = ("is not a prompt setting (use prompt, negative_prompt, duration, aspect, audio, "
               "shots, resolution, variants)") if first["type"] == "extra_forbidden" else first[
                   "msg"]
        raise ItemProblem(f"{name}: {where} {msg}", "fix the file and drop it again") from exc


def generate_request(kind: Kind, work: Path, texts: Mapping[str, str],
                     settings: Effective) -> Request:
    """``texts``: the prompt file(s) of the item by name (its own, or the image's companion)."""
    spec = PromptFile()
    words = ""
    for name, text in texts.items():
        if PurePosixPath(name).suffix.lower() == ".txt":
            words = text.strip()
        else:
            spec = parse_prompt_file(name, text)
    prompt = spec.prompt.strip() or words
    if settings.prompt and kind is not Kind.IMAGE:
        prompt = f"{settings.prompt.strip()}, {prompt}" if prompt else settings.prompt.strip()
    if kind is Kind.PROMPT and not prompt:
        raise ItemProblem(f"{work.name} is empty: there are no words to make a clip from",
                          "write the prompt in the file, e.g. 'rain on a tin roof, close up'")
    if kind is Kind.PROMPT_FILE and not prompt and not spec.shots:
        raise ItemProblem(f"{work.name} has no prompt and no shots",
                          'add prompt = "..." (or shots = [{prompt = "...", duration = 3}])')
    body = {
        **_common(settings),
        "prompt": prompt,
        "negative_prompt": spec.negative_prompt or settings.negative_prompt,
        "duration": spec.duration or settings.duration,
        "aspect_ratio": spec.aspect or settings.aspect,
        "audio": settings.audio if spec.audio is None else spec.audio,
        "shots": [s.model_dump() for s in spec.shots],
    }
    if spec.resolution:
        body["resolution"] = spec.resolution
    if spec.variants:
        body["variants"] = spec.variants
    if spec.shots:
        total = sum(s.duration for s in spec.shots)
        if not 3 <= total <= 15:
            raise ItemProblem(f"{work.name}: the shots last {total} s in all",
                              "a multi-shot sequence lasts 3 to 15 s; change the durations")
        body["duration"] = max(3, min(15, total))
    if kind is Kind.IMAGE:
        body["image"] = str(work)
    return Request("generate", body)


def request_for(kind: Kind, route: Route, work: Path, companions: Mapping[str, str],
                settings: Effective, presets: Collection[str]) -> Request:
    """The request for an item whose main file now sits at ``work`` (under processing/)."""
    if route.kind in CHAIN_REQUESTS:
        return CHAIN_REQUESTS[route.kind](kind, route, work, companions, settings, presets)
    if kind in (Kind.CLIP, Kind.TIMELINE):
        return restyle_request(kind, route, work, settings, presets)
    return with_characters(generate_request(kind, work, companions, settings), settings)


# ---------------------------------------------------------------- the chain inboxes
#
# Each is the same API request ``kling-bridge generate``/``restyle`` sends with its chain
# flags (--then, --more-like-this, --next-shot, several --preset for --compare,
# --apply-look JOB), so a chain dropped here is the daemon's chain: recorded whole and
# priced before anything is paid, resumed after a crash, each link paid once.


def with_characters(request: Request, settings: Effective) -> Request:
    """A generation with the folder's ``characters`` (registered with ``kling-bridge
    character add``, in ``project``)."""
    if not settings.characters:
        return request
    return Request(request.verb, {**request.body, "characters": list(settings.characters),
                                  "project": settings.project})


def generate_then(kind: Kind, route: Route, work: Path, texts: Mapping[str, str],
                  settings: Effective, presets: Collection[str]) -> Request:
    """``generate-then/<look>/``: the prompt generated, then restyled in the folder's look.
    The folder's ``prompt`` is the look's words here (for a folder of your own), not added to
    the generation's."""
    look = look_of(route, settings, presets)
    words = Effective(**{**settings.__dict__, "prompt": None})
    request = with_characters(generate_request(kind, work, texts, words), settings)
    return Request("generate", {**request.body, "then": [look]})


def more_like_this(kind: Kind, route: Route, work: Path, texts: Mapping[str, str],
                   settings: Effective, presets: Collection[str]) -> Request:
    """``more-like-this/<look>/``: restyled in the look, then B-roll in it for each clip."""
    request = restyle_request(kind, route, work, settings, presets)
    return Request("restyle", {**request.body, "more_like_this": {
        "prompt": settings.broll_prompt, "duration": settings.broll_duration,
        "place": settings.broll_at, "send_as": settings.broll_as}})


def next_shot(kind: Kind, route: Route, work: Path, texts: Mapping[str, str],
              settings: Effective, presets: Collection[str]) -> Request:
    """``next-shot/``: the shot that follows the clip (it goes as Kling's feature_video),
    described by the folder's ``prompt``; silent (Kling takes a reference clip only so)."""
    body = {**_common(settings), "prompt": (settings.prompt or "").strip(),
            "negative_prompt": settings.negative_prompt, "duration": settings.duration,
            "aspect_ratio": settings.aspect, "audio": False,
            "reference": {"clip": {"path": str(work)}, "mode": "next_shot"}}
    return with_characters(Request("generate", body), settings)


def compare(kind: Kind, route: Route, work: Path, texts: Mapping[str, str],
            settings: Effective, presets: Collection[str]) -> Request:
    """``compare/``: the clip in each of the folder's ``looks``; the service then asks for
    the comparison picture and lays out an ``apply-look/`` folder per look."""
    unknown = [look for look in settings.looks if presets and look not in presets]
    if unknown:
        raise ItemProblem(
            f"looks names {', '.join(map(repr, unknown))}, which no preset is called",
            f"use presets' names in looks = [...] in {route.kind}/{SETTINGS_FILE} "
            f"({', '.join(sorted(presets))})")
    looks = [{"preset": look, "prompt": settings.prompt} for look in settings.looks]
    return Request("restyle", {**_common(settings), "looks": looks,
                               "keep_audio": settings.keep_audio, **_targets(kind, work, settings)})


def _targets(kind: Kind, work: Path, settings: Effective) -> dict[str, Any]:
    """What a restyle works on: the dropped timeline's selection, or the dropped clip."""
    if kind is Kind.TIMELINE:
        return {"timeline_path": str(work),
                "select": select_body(settings.select, settings.handles)}
    return {"clips": [{"path": str(work)}], "select": {"handles": settings.handles}}


def apply_look(kind: Kind, route: Route, work: Path, texts: Mapping[str, str],
               settings: Effective, presets: Collection[str]) -> Request:
    """``apply-look/<name>/``: restyled in the look of the job its settings name (written
    there by the comparison that made the folder), with that job's settings."""
    if not settings.apply_look:
        raise ItemProblem(
            f"{route.kind}/{route.look}/ names no look to apply (its {SETTINGS_FILE} has no "
            "apply_look = \"j...\")",
            "drop it into a folder a comparison made (each has the job id of its look), or "
            f"write apply_look = \"JOB ID\" (from the comparison picture) in its "
            f"{SETTINGS_FILE}")
    return Request("restyle", {"apply_look": {"job_id": settings.apply_look,
                                              "to": settings.apply_to},
                               "keep_audio": settings.keep_audio, "provider": settings.provider,
                               **_targets(kind, work, settings)})


_Builder = Callable[[Kind, Route, Path, Mapping[str, str], Effective, Collection[str]], Request]
CHAIN_REQUESTS: dict[str, _Builder] = {
    GENERATE_THEN: generate_then, MORE_LIKE_THIS: more_like_this, NEXT_SHOT: next_shot,
    COMPARE: compare, APPLY_LOOK: apply_look}


def over_budget(units: float, usd: float, cap: float) -> tuple[str, str]:
    """Why a drop over its folder's budget was refused, and what to do."""
    return (f"it would cost about {units:g} units (US${usd:.2f}), over this folder's budget of "
            f"{cap:g} units per drop; nothing was sent or paid",
            f"raise budget_units in {SETTINGS_FILE}, lower the resolution or variants, or "
            "select fewer clips")
