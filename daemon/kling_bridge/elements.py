"""Characters and products kept per project, so a series of generations stays consistent.

An element is a name, one to four stills and -- when the editor has one from Kling's own
tools -- Kling's ``element_id`` (kling-api.md documents how a task refers to an element but
no way to create one, so the bridge never makes one: without an id the stills go as
``refer_image`` inputs). The row lives in the job database; the stills are *copied* into the
bridge's data folder (``elements/<id>/``), so moving or editing the originals changes
nothing, and a generation refers to the copies. Names are unique within a project, case
aside; a project is just a name the caller gives (``default`` when none).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .jobs import model as m
from .jobs.model import TERMINAL
from .jobs.store import JobStore
from .media.errors import MediaError
from .media.probe import probe

MAX_STILLS = 4
STILL_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
DEFAULT_PROJECT = "default"
ID_PATTERN = r"e[0-9a-f]{23}"
_COLUMNS = "id, project, name, images, element_id, description, created_at, updated_at"


class ElementError(Exception):
    def __init__(self, code: str, message: str, hint: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.status = status


@dataclass(frozen=True)
class Element:
    id: str
    project: str
    name: str
    images: tuple[str, ...]  # the copies, in the bridge's data folder
    element_id: str | None = None
    description: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "project": self.project, "name": self.name,
                "images": list(self.images), "element_id": self.element_id,
                "description": self.description, "created_at": self.created_at,
                "updated_at": self.updated_at,
                "sent_as": "element" if self.element_id else "refer_image"}


def _of(row: Any) -> Element:
    return Element(id=row[0], project=row[1], name=row[2], images=tuple(json.loads(row[3])),
                   element_id=row[4], description=row[5], created_at=row[6],
                   updated_at=row[7])


class Elements:
    """The register: rows in the job database, stills under ``folder``."""

    def __init__(self, store: JobStore, folder: Path) -> None:
        self.store = store
        self.folder = folder

    # ------------------------------------------------------------------ reading

    def all(self, project: str = DEFAULT_PROJECT) -> list[Element]:
        rows = self.store.read(f"SELECT {_COLUMNS} FROM elements WHERE project = ? "
                               "ORDER BY name COLLATE NOCASE", (project,))
        return [_of(r) for r in rows]

    def get(self, element_id: str) -> Element:
        rows = self.store.read(f"SELECT {_COLUMNS} FROM elements WHERE id = ?", (element_id,))
        if not rows:
            raise ElementError("not_found", f"no element {element_id}",
                               "list them with GET /v1/elements", 404)
        return _of(rows[0])

    def named(self, name: str, project: str = DEFAULT_PROJECT) -> Element:
        rows = self.store.read(f"SELECT {_COLUMNS} FROM elements WHERE project = ? AND "
                               "name = ? COLLATE NOCASE", (project, name.strip()))
        if not rows:
            known = ", ".join(e.name for e in self.all(project)) or "none yet"
            raise ElementError("unknown_character",
                               f"no character called {name!r} in project {project!r}",
                               f"known there: {known}; add one with 'kling-bridge character add"
                               f" NAME STILL' (or POST /v1/elements)", 404)
        return _of(rows[0])

    # ------------------------------------------------------------------ writing

    async def add(self, name: str, stills: list[str], *, project: str = DEFAULT_PROJECT,
                  element_id: str | None = None, description: str = "") -> Element:
        name = name.strip()
        if not name:
            raise ElementError("bad_name", "a character needs a name", "e.g. 'Ada'")
        if not 1 <= len(stills) <= MAX_STILLS:
            raise ElementError("bad_stills", f"{len(stills)} stills: give 1 to {MAX_STILLS}",
                               "front, side and full-figure views keep a character best")
        for still in stills:
            _check_still(still)
        self._refuse_taken(name, project)
        now = time.time()
        ident = m.new_id("e", now)
        folder = self.folder / ident
        copies = [_copy_in(Path(s), folder, n) for n, s in enumerate(stills, 1)]
        row = (ident, project, name, json.dumps([str(c) for c in copies]), element_id or None,
               description, now, now)

        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(f"INSERT INTO elements ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         row)

        try:
            await self.store.awrite(fn)
        except sqlite3.IntegrityError:
            shutil.rmtree(folder, ignore_errors=True)
            raise self._taken(name, project) from None
        except Exception:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return self.get(ident)

    async def rename(self, element_id: str, name: str) -> Element:
        element = self.get(element_id)
        name = name.strip()
        if not name:
            raise ElementError("bad_name", "the new name is empty", "give the character a name")
        if name.lower() != element.name.lower():
            self._refuse_taken(name, element.project)

        def fn(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE elements SET name = ?, updated_at = ? WHERE id = ?",
                         (name, time.time(), element_id))

        try:
            await self.store.awrite(fn)
        except sqlite3.IntegrityError:
            raise self._taken(name, element.project) from None
        return self.get(element_id)

    async def remove(self, element_id: str) -> Element:
        """Gone from the register with its copies -- unless unfinished work still uses them
        (a queued generation would then fail): that is refused, naming the jobs."""
        element = self.get(element_id)
        folder = str(self.folder / element.id)
        done = [str(s) for s in TERMINAL]
        pattern = f"%{json.dumps(folder)[1:-1]}%"
        users = [r[0] for r in self.store.read(
            f"SELECT id FROM jobs WHERE state NOT IN ({', '.join('?' * len(done))}) "
            "AND spec LIKE ?", (*done, pattern))]
        users += [r[0] for r in self.store.read(
            "SELECT job_id FROM chain_links WHERE created = 0 AND error IS NULL "
            "AND template LIKE ?", (pattern,))]
        if users:
            raise ElementError(
                "in_use", f"{element.name!r} is used by {len(users)} unfinished job(s): "
                f"{', '.join(users[:5])}", "wait for them to finish, or cancel them, then "
                "remove it", 409)

        def fn(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM elements WHERE id = ?", (element_id,))

        await self.store.awrite(fn)
        shutil.rmtree(self.folder / element.id, ignore_errors=True)
        return element

    def _refuse_taken(self, name: str, project: str) -> None:
        rows = self.store.read("SELECT id FROM elements WHERE project = ? AND name = ? "
                               "COLLATE NOCASE", (project, name))
        if rows:
            raise self._taken(name, project)

    @staticmethod
    def _taken(name: str, project: str) -> ElementError:
        return ElementError("name_taken", f"project {project!r} already has a character "
                            f"called {name!r}", "choose another name, or rename or remove "
                            "the one there", 409)


def _check_still(path: str) -> None:
    p = Path(path)
    if p.suffix.lower() not in STILL_SUFFIXES:
        raise ElementError("bad_still", f"{path}: not a still picture ({p.suffix or 'no '}"
                           " extension)", "use a PNG or JPEG of the character")
    try:
        info = probe(p)
    except MediaError as exc:
        raise ElementError("bad_still", f"{path}: {exc.message}", exc.hint) from None
    if not info.is_still or info.video is None:
        raise ElementError("bad_still", f"{path}: not a still picture",
                           "use a PNG or JPEG of the character")
    if info.size_bytes > 50 * 1024 * 1024:
        raise ElementError("bad_still", f"{path}: {info.size_bytes / 2**20:.0f} MB; at most "
                           "50 MB", "save it as a JPEG")


def _copy_in(src: Path, folder: Path, n: int) -> Path:
    """A copy of ``src`` in ``folder`` (temp name, then renamed): never the original."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"still-{n}{src.suffix.lower()}"
    fd, tmp = tempfile.mkstemp(prefix=".still-", suffix=".part", dir=folder)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest
