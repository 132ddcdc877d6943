"""Reading every editor's timeline format (the input edge of the timeline layer).

One entry point -- :func:`read_timeline` / :func:`read_timeline_text` -- so the API, the
CLI and the watch folder all get the same format detection, the same host-quirk
normalisation (:mod:`.quirks`) and the same errors. Writing is :mod:`.writing`;
the format table and detection are :mod:`.format_names`, error wording :mod:`.read_errors`
(their names are still served from here).

The adapters are called directly (not through ``otio.adapters.read_from_file``) so a user's
``OTIO_DEFAULT_MEDIA_LINKER`` or other plugins' hooks cannot change what the bridge sees;
our own OTIO plugin applies the same normalisation for OTIO's command-line tools.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import opentimelineio as otio

from kling_bridge.fileguard import read_capped
from kling_bridge.timeline import quirks
from kling_bridge.timeline.errors import ClipIssue, TimelineError
from kling_bridge.timeline.format_names import _SUFFIXES as _SUFFIXES
from kling_bridge.timeline.format_names import ALIASES as ALIASES
from kling_bridge.timeline.format_names import FORMATS as FORMATS
from kling_bridge.timeline.format_names import LABELS as LABELS
from kling_bridge.timeline.format_names import FormatInfo as FormatInfo
from kling_bridge.timeline.format_names import canonical_format as canonical_format
from kling_bridge.timeline.format_names import detect_format as detect_format
from kling_bridge.timeline.format_names import media_type_for as media_type_for
from kling_bridge.timeline.format_names import sniff_format as sniff_format
from kling_bridge.timeline.format_names import suffix_for as suffix_for
from kling_bridge.timeline.otioz_unpack import extract, unpack
from kling_bridge.timeline.paths import path_from_url, url_from_path
from kling_bridge.timeline.rates import snap_rate
from kling_bridge.timeline.read_errors import adapter_errors, explain_json

# OpenTimelineIO loads its plugin manifest lazily on first use, with no lock: two worker
# threads reading or writing their first timelines at once each load one, and the second
# replaces the first while the first thread walks its hook list ("Underlying C++ AnyVector
# object has been destroyed", seen on a fresh daemon's first requests). Loading it here, at
# import time (imports run one at a time), settles it before any worker uses OTIO.
otio.plugins.ActiveManifest()


@dataclass
class ReadResult:
    """A timeline as read, with what the reader had to assume and what is wrong per clip."""

    timeline: otio.schema.Timeline
    format: str
    path: str | None = None
    notes: list[str] = field(default_factory=list)
    issues: list[ClipIssue] = field(default_factory=list)
    text: str | None = None  # the document as read (text formats; a bundle's Info.fcpxml)


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
    with adapter_errors(where, fmt):
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
    with adapter_errors(name, fmt):
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
            explain_json(text, where)
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

        extract_dir = unpack(path, Paths.resolve().cache_dir / "otioz")
    else:
        extract_dir.mkdir(parents=True, exist_ok=True)
        extract(path, extract_dir)
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
        found.extend(quirks.media_issues(timeline, _exists))
    return ReadResult(timeline=timeline, format=fmt, path=where, notes=notes, issues=found)


def _exists(path: str) -> bool:
    """``os.path.exists`` without the exception it raises and catches inside for a missing
    file (half its cost), which is every file of a cut made on another machine."""
    try:
        return os.access(path, os.F_OK)
    except (OSError, ValueError):  # what os.path.exists answers False for
        return False


_WRITING = ("write_timeline", "timeline_to_string", "timeline_to_bytes", "result_path")


def __getattr__(name: str) -> Any:
    """The writers lived here first and callers import them from here: still served."""
    if name in _WRITING:
        from kling_bridge.timeline import writing

        return getattr(writing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
