"""Looks as data: the presets shipped with the package plus the user's own.

A preset is one JSON file: the Kling O3 prompt (what the paid model is asked) and the
ffmpeg filter graph the offline draft provider renders instead, with a category and a
short description for plugin menus. Users drop their own files in the config folder's
``presets/``; a user preset with a shipped id replaces it. A broken user file never takes
the shipped looks down with it: it is reported by name, and only a job asking for that id
fails -- with the file's path and what is wrong in the message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Paths
from .errors import PresetError

CATEGORIES = ("style", "scene", "enhance", "remix")
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "presets"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_REQUIRED = ("id", "name", "category", "description", "kling_prompt", "draft_filter")
PROMPT_MAX_CHARS = 2500
DESCRIPTION_MAX_CHARS = 80


@dataclass(frozen=True)
class Preset:
    id: str
    name: str
    category: str
    description: str
    kling_prompt: str
    draft_filter: str
    path: str = ""
    user: bool = False

    def menu_entry(self) -> dict[str, Any]:
        """What plugins show (never the filter graph; it is the daemon's business)."""
        return {"id": self.id, "name": self.name, "category": self.category,
                "description": self.description, "user": self.user}


def parse_preset(path: Path, *, user: bool = False) -> Preset:
    """Read and validate one preset file; every refusal names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(path, f"cannot be read ({exc})", "fix or remove the file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PresetError(path, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg})", "fix the JSON syntax or remove the file") from None
    if not isinstance(data, dict):
        raise PresetError(path, "must hold a JSON object",
                          f"give it the keys {', '.join(_REQUIRED)}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise PresetError(path, f"is missing {', '.join(missing)}",
                          f"a preset needs {', '.join(_REQUIRED)}")
    wrong = [k for k in _REQUIRED if not isinstance(data[k], str) or not data[k].strip()]
    if wrong:
        raise PresetError(path, f"{', '.join(wrong)} must be non-empty text", "fix those values")
    unknown = sorted(set(data) - set(_REQUIRED))
    if unknown:
        raise PresetError(path, f"has unknown keys {', '.join(unknown)}",
                          f"allowed keys: {', '.join(_REQUIRED)}")
    pid = data["id"]
    if not _ID.match(pid):
        raise PresetError(path, f"id {pid!r} must be lower-case letters, digits and dashes",
                          "e.g. \"my-teal-look\"")
    if data["category"] not in CATEGORIES:
        raise PresetError(path, f"category {data['category']!r} is not one of "
                          f"{', '.join(CATEGORIES)}", "pick one of those")
    if len(data["kling_prompt"]) > PROMPT_MAX_CHARS:
        raise PresetError(path, f"kling_prompt is {len(data['kling_prompt'])} characters; Kling "
                          f"takes at most {PROMPT_MAX_CHARS}", "shorten the prompt")
    if "@video_1" not in data["kling_prompt"]:
        raise PresetError(path, "kling_prompt never mentions @video_1 (the clip being restyled)",
                          "refer to the clip as @video_1, e.g. \"Restyle @video_1 as ...\"")
    if len(data["description"]) > DESCRIPTION_MAX_CHARS:
        raise PresetError(path, f"description is over {DESCRIPTION_MAX_CHARS} characters",
                          "menus need a short line; shorten it")
    return Preset(pid, data["name"].strip(), data["category"], data["description"].strip(),
                  data["kling_prompt"].strip(), data["draft_filter"].strip(), str(path), user)


@dataclass(frozen=True)
class PresetLibrary:
    presets: dict[str, Preset]
    problems: tuple[PresetError, ...] = field(default=())

    def get(self, preset_id: str) -> Preset:
        """The preset, or an error saying why not (broken file, or the ids that exist)."""
        if preset_id in self.presets:
            return self.presets[preset_id]
        for err in self.problems:
            if err.path and Path(err.path).stem == preset_id:
                raise err
        known = ", ".join(sorted(self.presets))
        raise PresetError(None, f"unknown look preset {preset_id!r}",
                          f"choose one of: {known}; or add {preset_id}.json to your presets folder")

    def by_category(self, category: str) -> list[Preset]:
        return sorted((p for p in self.presets.values() if p.category == category),
                      key=lambda p: p.name)

    def menu(self) -> list[dict[str, Any]]:
        return [p.menu_entry() for c in CATEGORIES for p in self.by_category(c)]


def _files(folder: Path) -> Iterable[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def load_presets(user_dir: Path | None = None, *, strict: bool = False,
                 shipped_dir: Path = SHIPPED_DIR) -> PresetLibrary:
    """Shipped presets, then the user's (``Paths.presets_dir`` by default) over them.

    ``strict`` raises the first problem instead of collecting it (for a "check my presets"
    command and for tests). Shipped presets must always be valid: a broken one raises.
    """
    presets: dict[str, Preset] = {}
    for path in _files(shipped_dir):
        p = parse_preset(path)
        presets[p.id] = p
    problems: list[PresetError] = []
    folder = user_dir if user_dir is not None else Paths.resolve().presets_dir
    for path in _files(folder):
        try:
            p = parse_preset(path, user=True)
        except PresetError as err:
            if strict:
                raise
            problems.append(err)
            continue
        if p.id != path.stem:
            mismatch = PresetError(path, f"id {p.id!r} differs from the file name",
                                   f"rename the file to {p.id}.json or change the id")
            if strict:
                raise mismatch
            problems.append(mismatch)
            continue
        presets[p.id] = p
    return PresetLibrary(presets, tuple(problems))


def look_words(preset: Preset | None, words: str | None) -> str:
    """A look described for new footage (B-roll "in this look"), not as an edit of a clip:
    the preset's name and the description in its prompt's first sentence (what follows the
    colon), then the editor's own words; no ``@video_1``."""
    parts: list[str] = []
    if preset is not None:
        first = preset.kling_prompt.split(". ")[0]
        head, sep, tail = first.partition(":")
        described = tail if sep else head
        described = described.replace("@video_1", "the footage").strip().rstrip(".")
        parts.append(f"{preset.name}: {described}" if described else preset.name)
    if words and words.strip():
        parts.append(words.replace("@video_1", "the footage").strip().rstrip("."))
    return ". ".join(parts)


def kling_prompt(preset: Preset | None, words: str | None) -> str:
    """The O3 prompt for a look: the preset's, then the editor's own words."""
    parts = [preset.kling_prompt] if preset else []
    if words and words.strip():
        extra = words.strip()
        if not preset and "@video_1" not in extra:
            extra = f"Restyle @video_1: {extra}. Keep its motion, framing and timing exactly."
        parts.append(extra)
    return " ".join(parts)[:PROMPT_MAX_CHARS]
