"""What a dropped file is: which names to ignore, what is one item, what kind of work it asks.

Pure functions over names (the edge lists folders and passes names in). The rules follow how
good watch-folder tools behave (hosts.md, "Watch folders"):

- dotfiles, partial downloads (``.part``, ``.tmp``, ``.crdownload``...), editor lock files
  and our own README.txt / kling-bridge.toml are never items;
- bundles (``.fcpxmld``, ``.otiod``) are folders but one item each; other folders are
  descended into (a folder of clips dropped at once gives one item per clip);
- in ``generate/``, an image and a prompt file of the same name are one item (image to
  video), keyed by the image.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .layout import COMPARE, NEXT_SHOT, PROMPT_INBOXES, README, SETTINGS_FILE, Route


class Kind(enum.StrEnum):
    CLIP = "clip"  # restyle a media file
    TIMELINE = "timeline"  # restyle a timeline's selected clips
    PROMPT = "prompt"  # generate from words (.txt)
    PROMPT_FILE = "prompt_file"  # generate from a .json/.toml description
    IMAGE = "image"  # generate from a picture (+ same-named prompt)
    UNSUPPORTED = "unsupported"


VIDEO = frozenset({".mov", ".mp4", ".m4v", ".mxf", ".avi", ".mkv", ".webm", ".mts", ".m2ts",
                   ".mpg", ".mpeg", ".dv", ".3gp", ".ts", ".wmv", ".flv", ".y4m"})
TIMELINE = frozenset({".otio", ".otioz", ".xml", ".fcpxml", ".edl", ".aaf"})
BUNDLES = frozenset({".otiod", ".fcpxmld"})
IMAGE = frozenset({".png", ".jpg", ".jpeg", ".webp"})
PROMPT = frozenset({".txt"})
PROMPT_FILE = frozenset({".json", ".toml"})
#: Names browsers, copy tools and editors give files still being written or held open.
PARTIAL = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".opdownload",
           ".!ut", ".!qb", ".filepart", ".swp", ".lock", "~")
JUNK = frozenset({"thumbs.db", "desktop.ini", "icon\r"})


def ignored(name: str) -> bool:
    """Never an item: hidden, partial, lock or system files, and our own README/settings."""
    low = name.lower()
    return (
        not name
        or name.startswith((".", "~$", "._"))
        or low.endswith(PARTIAL)
        or low in JUNK
        or low == README.lower()
        or low == SETTINGS_FILE
        or low.endswith(".error.txt")
    )


def is_bundle(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in BUNDLES


@dataclass(frozen=True)
class Candidate:
    """One item to work on: its main name and the same-named files that go with it."""

    name: str
    kind: Kind
    companions: tuple[str, ...] = ()
    problem: str = ""  # for UNSUPPORTED: why, and what to do (in hint)
    hint: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.companions)


@dataclass
class Item:
    """An item being worked on, from wherever it was found."""

    path: Path  # where it is now (inbox, or processing/ when resumed)
    rel: PurePosixPath  # where it was dropped, relative to the root
    route: Route
    kind: Kind
    companions: list[Path] = field(default_factory=list)


def classify(route: Route, name: str, is_dir: bool = False) -> Kind:
    """The kind of work ``name`` asks for where it was dropped (bundles are directories)."""
    suffix = PurePosixPath(name).suffix.lower()
    if route.kind in PROMPT_INBOXES:
        if suffix in PROMPT:
            return Kind.PROMPT
        if suffix in PROMPT_FILE:
            return Kind.PROMPT_FILE
        if suffix in IMAGE:
            return Kind.IMAGE
        return Kind.UNSUPPORTED
    if is_dir:
        return Kind.TIMELINE if suffix in BUNDLES else Kind.UNSUPPORTED
    if suffix in VIDEO:
        return Kind.CLIP
    if suffix in TIMELINE and route.kind not in CLIPS_ONLY:
        return Kind.TIMELINE
    return Kind.UNSUPPORTED


#: Chain inboxes that follow one clip (a timeline there would be many of them at once).
CLIPS_ONLY = (NEXT_SHOT, COMPARE)


def group(route: Route, entries: Iterable[tuple[str, bool]]) -> list[Candidate]:
    """The items among one folder's ``(name, is_dir)`` entries (plain folders left out).

    In ``generate/``, a prompt file whose stem matches an image's is that image's companion,
    not an item of its own.
    """
    entries = [(n, d) for n, d in entries if not ignored(n) and (not d or is_bundle(n))]
    kinds = {n: classify(route, n, d) for n, d in entries}
    companions: dict[str, list[str]] = {}
    if route.kind in PROMPT_INBOXES:
        images = {PurePosixPath(n).stem: n for n, k in kinds.items() if k is Kind.IMAGE}
        for n, k in kinds.items():
            stem = PurePosixPath(n).stem
            if k in (Kind.PROMPT, Kind.PROMPT_FILE) and stem in images:
                companions.setdefault(images[stem], []).append(n)
    taken = {c for names in companions.values() for c in names}
    out = []
    for name, kind in sorted(kinds.items()):
        if name in taken:
            continue
        problem, hint = unsupported_reason(route, name) if kind is Kind.UNSUPPORTED else ("", "")
        out.append(Candidate(name, kind, tuple(sorted(companions.get(name, ()))), problem, hint))
    return out


def unsupported_reason(route: Route, name: str) -> tuple[str, str]:
    suffix = PurePosixPath(name).suffix.lower() or "(no extension)"
    inbox = f"{route.kind}/"
    if route.kind in PROMPT_INBOXES:
        if suffix in VIDEO or suffix in TIMELINE or suffix in BUNDLES:
            return (f"{inbox} makes new clips from words or pictures; {suffix} is a clip "
                    "or a timeline",
                    "to restyle it, drop it into a look's folder under restyle/ instead")
        return (f"{inbox} takes prompts (.txt, .json, .toml) and images (.png, .jpg, .webp); "
                f"{suffix} is neither",
                "save the prompt as a .txt file, or the picture as PNG or JPEG")
    if suffix in IMAGE or suffix in PROMPT or suffix in PROMPT_FILE:
        return (f"{inbox} takes clips and timelines; {suffix} is a picture or a prompt",
                "to make a clip from it, drop it into generate/ instead")
    if route.kind in CLIPS_ONLY and (suffix in TIMELINE or suffix in BUNDLES):
        return (f"{inbox} takes one clip at a time; {suffix} is a timeline",
                "export the clip you mean as a movie file (or its media file) and drop that; "
                "for every clip of a cut, use more-like-this/ or restyle/")
    return (f"{inbox} takes clips (mov, mp4, mxf...) and timelines (otio, xml, fcpxml, edl, "
            f"aaf); {suffix} is neither",
            "export the clip as a movie file, or the cut as a timeline (OTIO, XML, FCPXML, EDL)")
