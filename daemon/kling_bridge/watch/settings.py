"""Watch-folder settings: ``[[watch]]`` entries in config.toml and ``kling-bridge.toml`` files.

A ``kling-bridge.toml`` may sit in the watch folder and in any folder below it; for an item,
the files from the root down to its folder are merged, the nearest winning (``[[watch]]``
entries give the defaults under all of them). A mistake in one of those files fails only
the items it governs, with the file and the setting named.

The :func:`fingerprint` of the effective settings is half of an item's ledger key: the
settings that change what is made (and paid for), not those that only change where results
go or how much may be spent.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .layout import SETTINGS_FILE

SELECT_KINDS = ("all", "marked", "color", "colour", "track", "range", "marker", "selected")


class FolderSettings(BaseModel):
    """What a ``kling-bridge.toml`` may say. Every field optional: unset = inherited."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["draft", "kling"] | None = None
    model: str | None = Field(None, min_length=1)
    resolution: Literal["720p", "1080p", "4k"] | None = None
    variants: int | None = Field(None, ge=1, le=8)
    budget_units: float | None = Field(None, ge=0)
    select: str | None = None
    handles: int | None = Field(None, ge=0, le=240)
    keep_audio: bool | None = None
    format: Literal["otio", "otio_json", "fcp_xml", "fcpx_xml", "cmx_3600", "otioz",
                    "AAF"] | None = None
    prompt: str | None = Field(None, max_length=2500)
    preset: str | None = None
    negative_prompt: str | None = Field(None, max_length=2500)
    duration: int | None = Field(None, ge=3, le=15)
    aspect: Literal["16:9", "9:16", "1:1"] | None = None
    audio: bool | None = None
    # Chains (the chain inboxes; see layout.py)
    looks: list[str] | None = Field(None, min_length=2, max_length=20)  # compare/
    broll_prompt: str | None = Field(None, max_length=2500)  # more-like-this/
    broll_duration: int | None = Field(None, ge=3, le=15)
    broll_at: Literal["after", "gap", "markers"] | None = None
    broll_as: Literal["video", "frame"] | None = None
    apply_look: str | None = Field(None, pattern=r"^j[0-9a-f]{23}$")  # apply-look/<name>/
    apply_to: Literal["rest", "all"] | None = None
    characters: list[str] | None = Field(None, max_length=3)  # any generation
    project: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("select")
    @classmethod
    def _known_selection(cls, value: str | None) -> str | None:
        if value is not None:
            select_body(value)  # raises ValueError with the spelling to use
        return value


class WatchEntry(FolderSettings):
    """One ``[[watch]]`` entry of config.toml: a folder the daemon watches while it runs."""

    path: str = Field(..., min_length=1)
    polling: bool | None = None  # None: polling on network drives (detected), events elsewhere
    stable_seconds: float = Field(3.0, ge=0.05, le=600)
    rescan_seconds: float = Field(30.0, ge=0.5, le=3600)

    def defaults(self) -> FolderSettings:
        data = self.model_dump(exclude_none=True, include=set(FolderSettings.model_fields))
        return FolderSettings(**data)


@dataclass(frozen=True)
class Effective:
    """The settings one item is worked with (defaults filled in)."""

    provider: str | None = None  # None: the daemon's provider
    model: str | None = None
    resolution: str = "1080p"
    variants: int = 1
    budget_units: float | None = None
    select: str = "all"
    handles: int = 12
    keep_audio: bool = True
    format: str | None = None
    prompt: str | None = None
    preset: str | None = None
    negative_prompt: str = ""
    duration: int = 5
    aspect: str = "16:9"
    audio: bool = False
    looks: tuple[str, ...] = ("film-noir", "anime-cel", "watercolor", "cyberpunk-neon",
                              "golden-hour")
    broll_prompt: str = ""
    broll_duration: int = 5
    broll_at: str = "after"
    broll_as: str = "video"
    apply_look: str | None = None
    apply_to: str = "rest"
    characters: tuple[str, ...] = ()
    project: str = "default"


class SettingsProblem(Exception):
    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.hint = (f"fix or remove {path.name} in {path.parent}; the template in the watch "
                     f"folder's own {SETTINGS_FILE} lists every setting")


def parse_settings_text(text: str, path: Path) -> FolderSettings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsProblem(path, f"not valid TOML ({exc})") from exc
    try:
        return FolderSettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "is not a setting (check its spelling)"
        raise SettingsProblem(path, f"{where} {msg}") from exc


class SettingsFiles:
    """Reads ``kling-bridge.toml`` files, re-reading one only when it changes on disk."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int], FolderSettings]] = {}

    def load(self, path: Path) -> FolderSettings | None:
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            self._cache.pop(path, None)
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsProblem(path, f"cannot be read as UTF-8 text ({exc})") from exc
        settings = parse_settings_text(text, path)
        self._cache[path] = (stamp, settings)
        return settings

    def chain(self, root: Path, folder: Path) -> list[FolderSettings]:
        """The settings files from ``root`` down to ``folder`` (inclusive), root first."""
        found = []
        rel = folder.relative_to(root)
        for depth in range(len(rel.parts) + 1):
            here = root.joinpath(*rel.parts[:depth]) / SETTINGS_FILE
            loaded = self.load(here)
            if loaded is not None:
                found.append(loaded)
        return found


def merge(layers: Iterable[FolderSettings]) -> Effective:
    """Later layers win, field by field; unset fields keep the defaults of :class:`Effective`."""
    values: dict[str, Any] = {}
    for layer in layers:
        values.update(layer.model_dump(exclude_none=True))
    for name in ("looks", "characters"):  # lists in TOML, tuples here (hashable, frozen)
        if name in values:
            values[name] = tuple(values[name])
    return Effective(**values)


#: Settings the chain inboxes added: left out of a fingerprint at their defaults, so the
#: ledger keys of drops made before them (and re-drops of those) stay what they were.
CHAIN_FIELDS = ("looks", "broll_prompt", "broll_duration", "broll_at", "broll_as",
                "apply_look", "apply_to", "characters", "project")
_DEFAULTS = Effective().__dict__


def fingerprint(effective: Effective, route: str) -> str:
    """What makes two drops the same work: the route and the settings that shape the result."""
    shaping = {k: v for k, v in effective.__dict__.items() if k not in ("budget_units", "format")
               and not (k in CHAIN_FIELDS and v == _DEFAULTS[k])}
    blob = json.dumps({"route": route, **shaping}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def select_body(text: str, handles: int = 12) -> dict[str, Any]:
    """``--select`` spelling (as ``kling-bridge restyle``) -> the API's ``select`` object."""
    kind, _, arg = text.strip().partition(":")
    kind = {"colour": "color", "selected": "marked"}.get(kind.lower(), kind.lower())
    if kind not in ("all", "marked", "color", "track", "range", "marker"):
        raise ValueError(f"unknown selection {text!r}: use all, marked, color:NAMES, "
                         "track:NAMES, range:IN-OUT or marker:TEXT")
    body: dict[str, Any] = {"mode": kind, "values": [], "handles": handles}
    if kind == "range":
        start, sep, end = arg.partition("-")
        if not sep or not start.strip() or not end.strip():
            raise ValueError(f"selection {text!r}: range needs IN-OUT, frames (240-480) or "
                             "timecodes (01:00:10:00-01:00:20:00)")
        body["range"] = [start.strip(), end.strip()]
    elif kind in ("color", "track", "marker"):
        body["values"] = [v.strip() for v in arg.split(",") if v.strip()]
        if not body["values"]:
            raise ValueError(f"selection {text!r} names nothing: e.g. {kind}:"
                             + {"color": "Orange,Teal", "track": "V2", "marker": "kling"}[kind])
    return body
