"""Reading every editor's timeline format (the input edge of the timeline layer).

One entry point -- :func:`read_timeline` / :func:`read_timeline_text` -- so the API, the
CLI and the watch folder all get the same format detection, the same host-quirk
normalisation (:mod:`.quirks`) and the same errors. Writing is :mod:`.writing`.

The adapters are called directly (not through ``otio.adapters.read_from_file``) so a user's
``OTIO_DEFAULT_MEDIA_LINKER`` or other plugins' hooks cannot change what the bridge sees;
our own OTIO plugin applies the same normalisation for OTIO's command-line tools.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import opentimelineio as otio

from kling_bridge.fileguard import UnsafeFile, read_capped
from kling_bridge.timeline import quirks
from kling_bridge.timeline.errors import ClipIssue, TimelineError
from kling_bridge.timeline.paths import path_from_url, url_from_path
from kling_bridge.timeline.rates import snap_rate

# OpenTimelineIO loads its plugin manifest lazily on first use, with no lock: two worker
# threads reading or writing their first timelines at once each load one, and the second
# replaces the first while the first thread walks its hook list ("Underlying C++ AnyVector
# object has been destroyed", seen on a fresh daemon's first requests). Loading it here, at
# import time (imports run one at a time), settles it before any worker uses OTIO.
otio.plugins.ActiveManifest()


@dataclass(frozen=True)
class FormatInfo:
    name: str  # the OTIO adapter name
    suffixes: tuple[str, ...]
    binary: bool = False
    directory: bool = False  # written as a folder (bundle)
    media_type: str = "text/plain; charset=utf-8"


FORMATS: dict[str, FormatInfo] = {
    "otio_json": FormatInfo("otio_json", (".otio",), media_type="application/json"),
    "otioz": FormatInfo("otioz", (".otioz",), binary=True, media_type="application/zip"),
    "otiod": FormatInfo("otiod", (".otiod",), directory=True),
    "fcp_xml": FormatInfo("fcp_xml", (".xml",), media_type="application/xml"),
    "fcpx_xml": FormatInfo("fcpx_xml", (".fcpxml", ".fcpxmld"), media_type="application/xml"),
    "cmx_3600": FormatInfo("cmx_3600", (".edl",)),
    "AAF": FormatInfo("AAF", (".aaf",), binary=True, media_type="application/octet-stream"),
    "ale": FormatInfo("ale", (".ale",)),
}

#: Names users and the API may give for a format.
ALIASES: dict[str, str] = {
    "otio": "otio_json",
    "json": "otio_json",
    "xml": "fcp_xml",
    "fcp7": "fcp_xml",
    "fcp7_xml": "fcp_xml",
    "xmeml": "fcp_xml",
    "premiere": "fcp_xml",
    "fcpxml": "fcpx_xml",
    "fcpx": "fcpx_xml",
    "fcpxmld": "fcpx_xml",
    "edl": "cmx_3600",
    "cmx3600": "cmx_3600",
    "aaf": "AAF",
}

_SUFFIXES = {s: info.name for info in FORMATS.values() for s in info.suffixes}


@dataclass
class ReadResult:
    """A timeline as read, with what the reader had to assume and what is wrong per clip."""

    timeline: otio.schema.Timeline
    format: str
    path: str | None = None
    notes: list[str] = field(default_factory=list)
    issues: list[ClipIssue] = field(default_factory=list)
    text: str | None = None  # the document as read (text formats; a bundle's Info.fcpxml)


def canonical_format(name: str) -> str:
    """``"otio"``/``"edl"``/``"fcpxml"``... -> the adapter name; unknown names are refused."""
    if name in FORMATS:
        return name
    key = name.strip().lower().lstrip(".")
    if key in ALIASES:
        return ALIASES[key]
    for known in FORMATS:
        if known.lower() == key:
            return known
    if "." + key in _SUFFIXES:
        return _SUFFIXES["." + key]
    raise TimelineError(
        f"unsupported timeline format {name!r}",
        hint="use one of otio, otioz, otiod, fcp_xml, fcpx_xml, cmx_3600, aaf, ale",
    )


def suffix_for(fmt: str) -> str:
    return FORMATS[canonical_format(fmt)].suffixes[0]


def media_type_for(fmt: str) -> str:
    """Content-Type for an HTTP answer holding this format."""
    return FORMATS[canonical_format(fmt)].media_type


def sniff_format(head: bytes) -> str | None:
    """The format of a file from its first bytes, when the extension does not say."""
    if head.startswith(b"PK\x03\x04"):
        return "otioz"
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # structured storage: AAF
        return "AAF"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{") and b"OTIO_SCHEMA" in head:
        return "otio_json"
    if b"<fcpxml" in head:
        return "fcpx_xml"
    if b"<xmeml" in head:
        return "fcp_xml"
    if text.startswith(b"Heading") or b"\nColumn" in head:
        return "ale"
    if text.startswith(b"TITLE:") or b"FCM:" in head:
        return "cmx_3600"
    return None


def detect_format(path: Path) -> str:
    """By bundle layout, then extension, then content (an ``.xml`` may hold FCPXML)."""
    if path.is_dir():
        if (path / "Info.fcpxml").is_file():
            return "fcpx_xml"
        if (path / "content.otio").is_file():
            return "otiod"
        raise TimelineError(
            "folder is not a timeline bundle (no Info.fcpxml or content.otio inside)",
            path=str(path),
            hint="pass the timeline file itself, or an .fcpxmld/.otiod bundle",
        )
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise TimelineError(f"cannot open: {exc.strerror}", path=str(path)) from exc
    sniffed = sniff_format(head)
    by_suffix = _SUFFIXES.get(path.suffix.lower())
    if by_suffix == "fcp_xml" and sniffed == "fcpx_xml":
        return "fcpx_xml"
    if by_suffix:
        return by_suffix
    if sniffed:
        return sniffed
    raise TimelineError(
        "cannot tell the timeline format from the name or the content",
        path=str(path),
        hint="name it .otio, .otioz, .xml (FCP 7), .fcpxml, .edl, .aaf or .ale, or pass the format",
    )


# --------------------------------------------------------------------------- reading


def read_timeline(
    path: Path,
    fmt: str | None = None,
    *,
    rate: float | None = None,
    check_media: bool = True,
    extract_dir: Path | None = None,
) -> ReadResult:
    """Read any supported timeline file or bundle, normalised (see :mod:`.quirks`).

    ``rate`` is the frame rate for formats that do not record it (EDL, ALE); when it is not
    given an EDL's rate is worked out from its timecodes. ``extract_dir`` is where an
    ``.otioz``'s media is unpacked (default: the bridge's cache folder). ``check_media``
    reports clips whose media file is missing as issues (never fatal).
    """
    path = Path(path)
    where = str(path)
    if not path.exists():
        raise TimelineError("file not found", path=where, hint="check the path")
    fmt = canonical_format(fmt) if fmt else detect_format(path)
    notes: list[str] = []
    issues: list[ClipIssue] = []
    drop: list[bool] = []
    exact = False
    text: str | None = None
    with _adapter_errors(where, fmt):
        if fmt == "otiod":
            loaded = _read_otiod(path)
        elif fmt == "otioz":
            loaded = _read_otioz(path, extract_dir, notes)
        elif fmt == "AAF":
            loaded = _adapter("AAF").read_from_file(str(path))
        elif fmt == "fcpx_xml":  # relative media paths count from the file's folder
            document = path / "Info.fcpxml" if path.is_dir() else path
            text = _read_text(document)
            loaded = _from_text(text, fmt, rate, notes, where, issues,
                                base=str(document.parent.resolve()))
            exact = True  # rates come from frameDuration, exactly
        else:
            text = _read_text(path)
            drop = _drop_frame_flag(text, fmt)
            exact = fmt == "otio_json" and _rates_already_exact(text)
            loaded = _from_text(text, fmt, rate, notes, where, issues)
    result = _finish(loaded, fmt, where, notes, check_media, drop, exact,
                     folder=path if path.is_dir() else path.parent, issues=issues, text=text)
    result.text = text
    return result


def read_timeline_text(
    text: str,
    fmt: str = "otio_json",
    *,
    name: str = "request body",
    rate: float | None = None,
    check_media: bool = True,
    folder: Path | None = None,
) -> ReadResult:
    """Same as :func:`read_timeline` for a timeline sent as text (the API's request body).

    ``folder`` is where relative media paths are found (the timeline file's folder when the
    text came from one); without it they stay as they are, and are reported.
    """
    fmt = canonical_format(fmt)
    if FORMATS[fmt].binary or FORMATS[fmt].directory:
        raise TimelineError(
            f"{fmt} is a binary or bundle format and cannot be sent as text",
            path=name,
            hint="send OTIO JSON, FCP XML, FCPXML or EDL text, or give a file path",
        )
    notes: list[str] = []
    issues: list[ClipIssue] = []
    with _adapter_errors(name, fmt):
        loaded = _from_text(text, fmt, rate, notes, name, issues,
                            base=str(folder.resolve()) if folder is not None else None)
    exact = fmt == "fcpx_xml" or (fmt == "otio_json" and _rates_already_exact(text))
    result = _finish(loaded, fmt, name, notes, check_media, _drop_frame_flag(text, fmt), exact,
                     folder=folder, issues=issues, text=text)
    result.path = None
    result.text = text
    return result


def _read_text(path: Path) -> str:
    raw = read_capped(path)  # a regular file, never more than MAX_TIMELINE_BYTES
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _adapter(name: str) -> Any:
    return otio.adapters.from_name(name).module()


def _from_text(text: str, fmt: str, rate: float | None, notes: list[str], where: str,
               issues: list[ClipIssue] | None = None, base: str | None = None) -> Any:
    if fmt == "otio_json":
        if not text.strip():
            raise TimelineError("the file is empty", path=where, hint="export the timeline again")
        try:
            return otio.adapters.otio_json.read_from_string(text)
        except Exception as exc:  # OTIO's message names neither the item nor the place
            _explain_json(text, where)
            raise TimelineError(f"not a readable OpenTimelineIO document: {exc}", path=where,
                                hint="export the timeline again") from exc
    if fmt == "fcpx_xml":
        from kling_bridge.timeline.fcpxml import read_fcpxml_timeline

        timeline, found = read_fcpxml_timeline(text, base=base, name=where)
        notes.extend(found)
        return timeline
    if fmt == "fcp_xml":
        return _adapter("fcp_xml").read_from_string(text)
    if fmt == "cmx_3600":
        edl_rate = rate or quirks.guess_edl_rate(text)
        if rate is None:
            notes.append(f"EDL frame rate {edl_rate:g} worked out from its timecodes")
        from kling_bridge.timeline.edl import drop_odd_events

        text, odd = drop_odd_events(text, edl_rate)
        if issues is not None:
            issues.extend(odd)
        return _adapter("cmx_3600").read_from_string(text, rate=edl_rate)
    if fmt == "ale":
        kwargs = {"fps": rate} if rate else {}
        return _adapter("ale").read_from_string(text, **kwargs)
    raise TimelineError(f"{fmt} cannot be read from text", path=where)


def _explain_json(text: str, where: str) -> None:
    """Turn OTIO's parse failure into what is wrong and where (raises when it can tell)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TimelineError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            path=where,
            hint="export the timeline again; the file may be truncated",
        ) from exc
    if not isinstance(document, dict) or "OTIO_SCHEMA" not in document:
        raise TimelineError("JSON but not an OpenTimelineIO document (no OTIO_SCHEMA)",
                            path=where, hint="send an .otio timeline")
    unknown = quirks.unknown_schemas(document)
    if unknown:
        item, schema = unknown[0]
        raise TimelineError(
            f"unsupported schema {schema!r}",
            path=where,
            item=item or None,
            hint=f"this OpenTimelineIO ({otio.__version__}) cannot read it; export with an "
            "older OTIO schema or upgrade OpenTimelineIO",
        )


def _read_otiod(path: Path) -> Any:
    """content.otio with bundle-relative media made absolute (percent-encoded)."""
    loaded = otio.adapters.otio_json.read_from_file(str(path / "content.otio"))
    for clip in loaded.find_clips():
        ref = clip.media_reference
        url = getattr(ref, "target_url", "")
        local = path_from_url(url) if url else None
        if local and not os.path.isabs(local) and ":" not in local[:3]:
            ref.target_url = url_from_path(str((path / local).resolve()))
    return loaded


def _read_otioz(path: Path, extract_dir: Path | None, notes: list[str]) -> Any:
    if not zipfile.is_zipfile(path):
        raise TimelineError("not a valid .otioz (zip) file", path=str(path))
    if extract_dir is None:
        from kling_bridge.config import Paths

        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        extract_dir = Paths.resolve().cache_dir / "otioz" / digest
    extract_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            target = (extract_dir / member).resolve()
            if not target.is_relative_to(extract_dir.resolve()):
                raise TimelineError(f"unsafe member {member!r} in archive", path=str(path))
        archive.extractall(extract_dir)
    notes.append(f"bundle media unpacked to {extract_dir}")
    return _read_otiod(extract_dir)


def _as_timeline(loaded: Any, where: str, notes: list[str]) -> otio.schema.Timeline:
    if isinstance(loaded, otio.schema.Timeline):
        return loaded
    if isinstance(loaded, otio.schema.SerializableCollection):
        timelines = list(loaded.find_children(descended_from_type=otio.schema.Timeline))
        if timelines:
            if len(timelines) > 1:
                others = ", ".join(repr(t.name) for t in timelines[1:])
                notes.append(f"file holds {len(timelines)} timelines; using {timelines[0].name!r}"
                             f" (others: {others})")
            return timelines[0]
        clips = [c for c in loaded if isinstance(c, otio.schema.Clip)]
        if clips:
            return quirks.clips_to_timeline(clips, loaded.name)
        raise TimelineError("the file holds no timeline", path=where,
                            hint="export a sequence/timeline, not a bin")
    if isinstance(loaded, otio.schema.Stack):
        return otio.schema.Timeline(name=loaded.name, tracks=loaded)
    if isinstance(loaded, otio.schema.Track):
        timeline = otio.schema.Timeline(name=loaded.name)
        timeline.tracks.append(loaded)
        return timeline
    if not hasattr(loaded, "schema_name"):  # plain JSON comes back as AnyDictionary/Vector
        raise TimelineError("JSON but not an OpenTimelineIO document (no OTIO_SCHEMA)",
                            path=where, hint="send an .otio timeline")
    schema = loaded.schema_name()
    raise TimelineError(
        f"unsupported schema {schema!r} at the top of the file",
        path=where,
        hint="the bridge reads Timeline, SerializableCollection, Stack or Track documents",
    )


_RATE_FIELD = re.compile(r'"rate":\s*([0-9.eE+-]+)')


def _rates_already_exact(text: str) -> bool:
    """OTIO JSON whose every rate is already a SMPTE rate needs no snapping walk."""
    return all(snap_rate(float(r)) == float(r) for r in set(_RATE_FIELD.findall(text)))


def _drop_frame_flag(text: str, fmt: str) -> list[bool]:
    """What the file says about drop-frame timecode ([] when it says nothing)."""
    if fmt == "cmx_3600":
        fcm = re.search(r"^FCM:\s*(NON-DROP|DROP)", text, re.MULTILINE)
        if fcm:
            return [fcm.group(1) == "DROP"]
        if re.search(r"\d{2}:\d{2}:\d{2};\d{2}", text):
            return [True]
    elif fmt == "fcp_xml":
        seq = text.find("<sequence")
        tc = text.find("<timecode", seq) if seq >= 0 else -1
        found = _DISPLAY_FORMAT.search(text, tc) if tc >= 0 else None
        if found:
            return [found.group(1) == "DF"]
    return []


_DISPLAY_FORMAT = re.compile(r"<displayformat>\s*(DF|NDF)\s*</displayformat>")
#: An OTIO media URL that is neither a URL with a scheme (nor a drive) nor absolute.
_RELATIVE_URL = re.compile(r'"target_url"\s*:\s*"(?![A-Za-z][A-Za-z0-9+.\-]*:|/|\\\\|")')


def _may_be_relative(text: str | None, fmt: str) -> bool:
    """Whether a walk for relative media paths can find any: one look at an OTIO file's
    text answers for thousands of clips; other formats are walked."""
    return fmt != "otio_json" or text is None or _RELATIVE_URL.search(text) is not None


def _finish(
    loaded: Any, fmt: str, where: str, notes: list[str], check: bool, drop: list[bool],
    rates_exact: bool = False, *, folder: Path | None = None,
    issues: list[ClipIssue] | None = None, text: str | None = None,
) -> ReadResult:
    timeline = _as_timeline(loaded, where, notes)
    notes.extend(quirks.normalise(timeline, fmt, drop_frame=drop[0] if drop else None,
                                  snap=not rates_exact,
                                  carriers=text is None or (  # OTIO JSON keeps metadata
                                      fmt != "otio_json" and quirks.may_carry_provenance(text))))
    if folder is not None and fmt not in ("otiod", "otioz") and _may_be_relative(text, fmt):
        moved = quirks.relative_media_from(timeline, str(folder))
        if moved:
            notes.append(f"{moved} relative media path(s) found from the timeline's folder "
                         f"({folder})")
    found = list(issues or [])
    if check:
        found.extend(quirks.media_issues(timeline, os.path.exists))
    return ReadResult(timeline=timeline, format=fmt, path=where, notes=notes, issues=found)


#: What each format is called where an editor reads it.
LABELS = {"otio_json": "OpenTimelineIO (.otio)", "otioz": "OTIO bundle (.otioz)",
          "otiod": "OTIO bundle (.otiod)", "fcp_xml": "FCP 7 XML (Premiere, Resolve)",
          "fcpx_xml": "FCPXML (Final Cut Pro)", "cmx_3600": "CMX 3600 EDL", "AAF": "AAF",
          "ale": "ALE"}

_LOG = logging.getLogger(__name__)


@contextlib.contextmanager
def _adapter_errors(where: str, fmt: str) -> Iterator[None]:
    """Reader failures -> TimelineError naming the file (and item when they say).

    A reader's own refusals (OpenTimelineIO errors, an EDL parse error) say what is wrong
    and are passed on; a Python error from inside an adapter (``'NoneType' object has no
    attribute 'tag'``) says nothing to an editor, so it is logged and replaced by what it
    means: the file is not complete or not shaped as the format's exporters write it.
    """
    label = LABELS.get(fmt, fmt)
    try:
        yield
    except TimelineError as exc:
        if exc.path is None:
            raise TimelineError(exc.problem, path=where, item=exc.item, hint=exc.hint) from exc
        raise
    except UnsafeFile as exc:  # the file itself (a relative path, a FIFO, too large)
        raise TimelineError(exc.problem, path=exc.path, hint=exc.hint or None) from exc
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise TimelineError(
            f"not well-formed XML (line {line}, column {column})",
            path=where,
            hint="export the timeline again; the file may be truncated or hand-edited",
        ) from exc
    except UnicodeDecodeError as exc:
        raise TimelineError(f"not a text file ({exc.reason})", path=where) from exc
    except otio.exceptions.OTIOError as exc:
        raise TimelineError(
            f"cannot be read as {label}: {_sentence(str(exc))}",
            path=where,
            hint=f"check that the file really is {label} and was exported completely",
        ) from exc
    except (ValueError, KeyError, AttributeError, TypeError, IndexError) as exc:
        _LOG.info("reading %s as %s failed inside the adapter: %r", where, fmt, exc)
        raise TimelineError(
            f"cannot be read as {label}: something the format requires is missing or not "
            "where its exporters put it",
            path=where,
            hint=f"export the timeline from the editor again as {label} (not hand-edited "
            "or cut short); if it still fails, report it with the file",
        ) from exc


def _sentence(message: str) -> str:
    return message.strip().rstrip(".") or "the reader refused it"


_WRITING = ("write_timeline", "timeline_to_string", "timeline_to_bytes", "result_path")


def __getattr__(name: str) -> Any:
    """The writers lived here first and callers import them from here: still served."""
    if name in _WRITING:
        from kling_bridge.timeline import writing

        return getattr(writing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
