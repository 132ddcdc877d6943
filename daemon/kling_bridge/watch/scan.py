"""Looking at the disk: which items are in the inboxes, their signatures, whether they open.

Blocking helpers the service runs in worker threads. An item is a file, a bundle folder, or
(in ``generate/``) an image together with its same-named prompt files, whose signatures
count together -- the pair is only taken when both have stopped changing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .items import (
    IMAGE,
    PROMPT,
    PROMPT_FILE,
    Item,
    Kind,
    classify,
    group,
    ignored,
    is_bundle,
    unsupported_reason,
)
from .layout import PROMPT_INBOXES, Layout, Misplaced, Route, route_of
from .ledger import content_digest
from .readiness import Signature, combine
from .requests import ItemProblem

COMPANION_SUFFIXES = (*sorted(PROMPT), *sorted(PROMPT_FILE))


def walk_items(layout: Layout, top: Path | None = None) -> Iterator[Path]:
    """Every item under the inboxes (or under ``top``, a folder inside one)."""
    starts = [top] if top is not None else list(layout.inboxes())
    for start in starts:
        stack = [start]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            rel = layout.rel(folder)
            route = route_of(rel / "_")  # the route of anything directly in this folder
            for name, is_dir in entries:
                if is_dir and not is_bundle(name) and not ignored(name):
                    stack.append(folder / name)
            if isinstance(route, Route):
                for candidate in group(route, entries):
                    yield folder / candidate.name
            elif isinstance(route, Misplaced):
                for name, is_dir in entries:
                    if not is_dir and not ignored(name):
                        yield folder / name


def item_for(layout: Layout, path: Path) -> tuple[Path | None, bool]:
    """The item an event's ``path`` belongs to, and whether ``path`` is a plain folder to scan.

    A file inside a bundle belongs to the bundle; a prompt file beside a same-named image
    belongs to the image; ignored names and places outside the inboxes belong to nothing.
    """
    try:
        rel = layout.rel(path)
    except ValueError:
        return None, False
    if not rel.parts or route_of(rel) is None:
        return None, False
    for depth in range(1, len(rel.parts)):
        if is_bundle(rel.parts[depth - 1]) and depth > 1:
            return layout.root.joinpath(*rel.parts[:depth]), False
        if ignored(rel.parts[depth - 1]):
            return None, False
    if ignored(path.name):
        return None, False
    if is_bundle(path.name):
        return path, False
    if path.is_dir():
        return None, True
    suffix = PurePosixPath(path.name).suffix.lower()
    if rel.parts[0] in PROMPT_INBOXES and suffix in COMPANION_SUFFIXES:
        image = image_beside(path)
        if image is not None:
            return image, False
    return path, False


def image_beside(prompt: Path) -> Path | None:
    stem = prompt.stem
    for suffix in sorted(IMAGE):
        for candidate in (prompt.with_name(stem + suffix), prompt.with_name(stem + suffix.upper())):
            if candidate.is_file():
                return candidate
    return None


def companions_of(image: Path) -> list[Path]:
    """The prompt files that go with an image in generate/ (same name, .txt/.json/.toml)."""
    found = []
    for suffix in COMPANION_SUFFIXES:
        for candidate in (image.with_name(image.stem + suffix),
                          image.with_name(image.stem + suffix.upper())):
            if candidate.is_file() and candidate not in found:
                found.append(candidate)
    return found


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE


def measure(path: Path, with_companions: bool) -> Signature | None:
    """The item's signature now, or None if it is gone."""
    try:
        if path.is_dir():
            parts = []
            for root, dirs, files in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in files:
                    if not name.startswith("."):
                        st = os.stat(os.path.join(root, name))
                        parts.append(Signature(st.st_size, st.st_mtime_ns))
            st = path.stat()
            return combine([Signature(0, st.st_mtime_ns, 0), *parts])
        st = path.stat()
        own = Signature(st.st_size, st.st_mtime_ns)
        if not with_companions:
            return own
        extra = []
        for companion in companions_of(path):
            cst = companion.stat()
            extra.append(Signature(cst.st_size, cst.st_mtime_ns))
        return combine([own, *extra]) if extra else own
    except (FileNotFoundError, NotADirectoryError):
        return None


def opens(path: Path) -> bool:
    """The item can be read (a file a copy still holds open exclusively -- Windows -- cannot:
    wait). Elsewhere a permission error is not a copy in progress, and is raised."""
    try:
        files = ([Path(r) / f for r, _, fs in os.walk(path) for f in fs if not f.startswith(".")]
                 if path.is_dir() else [path])
        for f in files:
            with open(f, "rb") as fh:
                fh.read(1)
        return True
    except PermissionError:
        if os.name == "nt":
            return False
        raise
    except OSError:
        return False


def walk_list(layout: Layout, top: Path | None = None) -> list[Path]:
    return list(walk_items(layout, top))


def measure_all(layout: Layout, keys: list[str]) -> dict[str, Signature | None]:
    """Signatures of tracked items; None for the gone, and for a prompt file that goes with
    a same-named image (the image's item measures it)."""
    out: dict[str, Signature | None] = {}
    for key in keys:
        path = Path(key)
        in_generate = layout.rel(path).parts[0] in PROMPT_INBOXES
        if in_generate and path.suffix.lower() in COMPANION_SUFFIXES and image_beside(path):
            out[key] = None
            continue
        out[key] = measure(path, with_companions=in_generate and is_image(path))
    return out


def read_texts(item: Item) -> dict[str, str]:
    """The prompt files of an item (its own, or an image's companions), by name."""
    files = list(item.companions)
    if item.kind in (Kind.PROMPT, Kind.PROMPT_FILE):
        files.insert(0, item.path)
    texts = {}
    for f in files:
        try:
            texts[f.name] = f.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ItemProblem(f"{f.name} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                              "save it as UTF-8 text (any editor's 'Save as... UTF-8')") from exc
    return texts


def describe(path: Path, rel: PurePosixPath) -> Item | tuple[str, str]:
    """The item at ``path`` (dropped at ``rel``), or why it cannot be one: (problem, hint)."""
    route = route_of(rel)
    if route is None:
        return ("it is not in an inbox (restyle/, generate/, compare/...)",
                "drop it into one of those folders (README.txt says which does what)")
    if isinstance(route, Misplaced):
        return (route.problem, route.hint)
    kind = classify(route, path.name, path.is_dir())
    if kind is Kind.UNSUPPORTED:
        return unsupported_reason(route, path.name)
    companions = companions_of(path) if kind is Kind.IMAGE else []
    return Item(path, rel, route, kind, companions)


@dataclass
class Examined:
    verdict: str  # "take" | "wait" | "refuse"
    item: Item | None = None
    content: str = ""
    problem: tuple[str, str] = ("", "")


def examine(layout: Layout, path: Path, seen: Signature | None) -> Examined:
    """Does a due item open, what is it, its content hash -- and has it changed since it was
    found stable (then it is not taken yet). One worker hop for all of it."""
    try:
        if not opens(path):
            return Examined("wait")  # still held by its writer (Windows), or gone
    except PermissionError as exc:
        return Examined("refuse", problem=(f"it cannot be read ({exc.strerror})",
                                           "give your user read access to it, then drop it "
                                           "in again"))
    item = describe(path, layout.rel(path))
    if not isinstance(item, Item):
        return Examined("refuse", problem=item)
    content = content_digest([item.path, *item.companions])
    if seen is not None and measure(path, item.kind is Kind.IMAGE) != seen:
        return Examined("wait")  # changed while it was read
    return Examined("take", item=item, content=content)
