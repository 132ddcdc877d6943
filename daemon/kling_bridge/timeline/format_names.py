"""The timeline formats the bridge knows: their names, suffixes and content types, and how a
file's format is told from its name, its bundle layout or its first bytes.

Kept apart from reading (:mod:`.formats`) because the API, the export and the writers need
only the table and detection -- a name to check or a suffix to give -- not the readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kling_bridge.timeline.errors import TimelineError


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

#: What each format is called where an editor reads it.
LABELS = {"otio_json": "OpenTimelineIO (.otio)", "otioz": "OTIO bundle (.otioz)",
          "otiod": "OTIO bundle (.otiod)", "fcp_xml": "FCP 7 XML (Premiere, Resolve)",
          "fcpx_xml": "FCPXML (Final Cut Pro)", "cmx_3600": "CMX 3600 EDL", "AAF": "AAF",
          "ale": "ALE"}


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
