"""The editor's own timeline file, kept with a batch, and the result written into it.

A batch keeps the document it was made from -- the text of an OTIO, FCP 7 XML, FCPXML or EDL
file; the path and content hash of a binary file or bundle (AAF, ``.otioz``, ``.otiod``) --
with its format and the facts every writer needs (rate, first frame, drop frame). The
result in the document's own format is then a **splice into that document**: the editor's
file with the new tracks added and every original element as it was
(:mod:`.otio_splice`, :mod:`.fcp7`, the FCPXML splicer, one EDL per new track in
:mod:`.edl`). Formats that cannot be spliced (AAF, OTIO bundles) and other formats asked for
(an EDL of an XML cut) go through OpenTimelineIO's adapters as a copy plus new tracks
(:func:`.results.apply_results`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import opentimelineio as otio

from kling_bridge.timeline.edl import edl_header, result_edls
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.fcp7 import declared_encoding, splice_xmeml
from kling_bridge.timeline.fcpxml import splice_fcpxml
from kling_bridge.timeline.formats import (
    FORMATS,
    ReadResult,
    canonical_format,
    media_type_for,
    read_timeline,
    read_timeline_text,
)
from kling_bridge.timeline.otio_splice import splice_otio
from kling_bridge.timeline.placement import ResultClip, check_results
from kling_bridge.timeline.rates import rate_text, timeline_rate
from kling_bridge.timeline.results import apply_results
from kling_bridge.timeline.writeback import drop_frame
from kling_bridge.timeline.writing import timeline_to_bytes


@dataclass(frozen=True)
class Document:
    """The editor's timeline as a batch keeps it (JSON-ready through :meth:`to_dict`)."""

    format: str
    name: str  # the file's name ("request timeline" for an API body)
    text: str | None = None  # text formats: the whole document
    path: str | None = None  # where it was read from, when it was a file
    sha256: str | None = None  # binary files and bundles: their content when read
    rate: str = "24"
    start: int = 0  # the timeline's first frame (record timecode) at ``rate``
    drop_frame: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def stem(self) -> str:
        """The file name without its extension (``edit`` for ``edit.fcpxmld``)."""
        name = Path(self.name).name
        suffix = Path(name).suffix
        return name[: -len(suffix)] if suffix and len(suffix) < len(name) else name


@dataclass(frozen=True)
class ResultFile:
    """One result timeline: the whole cut, or (``track`` set) one EDL of one new track."""

    data: bytes
    format: str
    track: str | None = None

    @property
    def media_type(self) -> str:
        return media_type_for(self.format)


def keep(read: ReadResult, path: Path | None = None, name: str | None = None) -> Document:
    """The document ``read`` came from, as a batch keeps it."""
    timeline = read.timeline
    rate = timeline_rate(timeline)
    start = timeline.global_start_time
    first = round(start.rescaled_to(float(rate)).value) if start is not None else 0
    info = FORMATS[read.format]
    digest = None
    if path is not None and (info.binary or info.directory):
        digest = _digest(path)
    return Document(
        format=read.format, name=name or (path.name if path is not None else "timeline"),
        text=read.text, path=str(path) if path is not None else None, sha256=digest,
        rate=rate_text(rate), start=first, drop_frame=drop_frame(timeline))


def result_files(document: Document, results: Sequence[ResultClip], fmt: str | None = None,
                 *, timeline: otio.schema.Timeline | None = None) -> list[ResultFile]:
    """The result timeline(s) in ``fmt`` (default: the document's own format).

    In the document's own format the results are spliced into it; otherwise (and for
    formats that cannot be spliced) ``timeline`` -- the cut as read, or the document read
    again -- gets the new tracks and goes through the adapter.
    """
    results = check_results(results)
    wanted = canonical_format(fmt) if fmt else document.format
    if wanted == "otiod":
        wanted = "otio_json"
    if wanted == document.format and document.text is not None:
        spliced = _spliced(document, results)
        if spliced is not None:
            return spliced
    base = timeline if timeline is not None else read_again(document)
    output = apply_results(base, results)
    return [ResultFile(timeline_to_bytes(output, wanted), wanted)]


def _spliced(document: Document, results: list[ResultClip]) -> list[ResultFile] | None:
    text = document.text
    assert text is not None
    fmt = document.format
    if fmt == "otio_json":
        try:
            return [ResultFile(splice_otio(text, results, name=document.name), fmt)]
        except TimelineError:
            return None  # a bin or a bare track, not a Timeline: the adapter route
    if fmt == "fcp_xml":
        spliced = splice_xmeml(text, results, name=document.name)
        encoding = declared_encoding(text[:200].encode("utf-8"))
        return [ResultFile(spliced.encode(_codec(encoding), "xmlcharrefreplace"), fmt)]
    if fmt == "fcpx_xml":
        return [ResultFile(splice_fcpxml(text, results, name=document.name).encode("utf-8"),
                           fmt)]
    if fmt == "cmx_3600":
        title, said_drop = edl_header(text)
        drop = document.drop_frame if said_drop is None else said_drop
        return [ResultFile(edl.encode("utf-8"), fmt, track)
                for track, edl in result_edls(results, title=title, start=document.start,
                                              drop_frame=drop)]
    return None


def read_again(document: Document) -> otio.schema.Timeline:
    """The cut the document holds, read as the batch read it (for the adapter route)."""
    if document.text is not None:
        read = read_timeline_text(document.text, document.format, name=document.name,
                                  check_media=False, folder=_folder(document))
        return read.timeline
    if document.path is None:
        raise TimelineError("the batch kept no copy of its timeline", path=document.name,
                            hint="restyle the timeline again")
    path = Path(document.path)
    if not path.exists():
        raise TimelineError("the timeline file the batch was made from is gone",
                            path=document.path, hint="put it back, or restyle it again")
    if document.sha256 and _digest(path) != document.sha256:
        raise TimelineError("the timeline file changed since the batch was made",
                            path=document.path,
                            hint="restyle the new version, or put the old one back")
    return read_timeline(path, document.format, check_media=False).timeline


def _folder(document: Document) -> Path | None:
    return Path(document.path).parent if document.path else None


#: Files larger than this (an ``.otioz`` holding its media) are known by size and time.
_HASHED_UP_TO = 64 << 20


def _digest(path: Path) -> str:
    """What the file was when the batch read it: the SHA-256 of its content (of the timeline
    inside a bundle folder), or for a file too large to read again cheaply -- an ``.otioz``
    carrying its media -- its size and modification time."""
    if path.is_dir():
        inner = [path / "content.otio", path / "Info.fcpxml"]
        path = next((p for p in inner if p.is_file()), path / "content.otio")
    stat = path.stat()
    if stat.st_size > _HASHED_UP_TO:
        return f"size:{stat.st_size}:mtime:{stat.st_mtime_ns}"
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _codec(encoding: str) -> str:
    import codecs

    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return "utf-8"
