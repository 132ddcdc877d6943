"""Finding where things are in an FCP 7 XML (xmeml) document, to the byte.

The splice writer (:mod:`.splice`) adds tracks to the editor's own file without touching a
byte of what is there, so it needs positions, not a tree: where the chosen sequence's
``<video>`` and ``<audio>`` end, how the file indents, which ids are taken, and the
sequence's own rate and timecode. One pass of the standard library's expat parser gives
them (``CurrentByteIndex`` at each tag).

The sequence is the one OpenTimelineIO's FCP 7 reader (and so the bridge's selection) takes:
the first ``<sequence>`` directly under ``<xmeml>``, else the first one in a project's or
bin's ``<children>``, in document order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from xml.parsers import expat

from kling_bridge.timeline.errors import TimelineError


@dataclass
class Span:
    """Byte offsets of an element: ``start`` of its start tag, ``end`` of its end tag
    (``end == start`` for an empty-element tag such as ``<audio/>``)."""

    start: int
    end: int = -1


@dataclass
class Sequence:
    """What the splice needs to know of one sequence."""

    start: int
    top_level: bool
    media: Span | None = None
    video: Span | None = None
    audio: Span | None = None
    video_tracks: int = 0
    audio_tracks: int = 0
    last_video_track: Span | None = None
    timebase: str = ""
    ntsc: str = ""
    tc_format: str = ""

    @property
    def rate(self) -> Fraction:
        """The sequence's edit rate (``<rate><timebase>`` and ``<ntsc>``)."""
        try:
            base = round(float(self.timebase))
        except ValueError:
            return Fraction(0)
        return Fraction(base * 1000, 1001) if self.ntsc.upper() == "TRUE" else Fraction(base)


@dataclass
class Scan:
    ids: set[str] = field(default_factory=set)
    sequence: Sequence | None = None
    first_pathurl: str = ""


class _Scanner:
    """expat callbacks: a stack of tag names and the byte index of each tag."""

    def __init__(self, parser: expat.XMLParserType) -> None:
        self.parser = parser
        self.stack: list[str] = []
        self.ids: set[str] = set()
        self.top: Sequence | None = None
        self.listed: Sequence | None = None
        self.current: Sequence | None = None
        self.depth = -1  # stack depth of the current sequence's element
        self.text: list[str] | None = None
        self.text_for = ""
        self.first_pathurl = ""

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        index = self.parser.CurrentByteIndex
        taken = attrs.get("id")
        if taken is not None:
            self.ids.add(taken)
        depth = len(self.stack)
        if tag == "sequence" and self.current is None:
            parent = self.stack[-1] if self.stack else ""
            if depth == 1 and self.top is None:
                self.current = self.top = Sequence(index, True)
                self.depth = depth
            elif parent == "children" and self.listed is None:
                self.current = self.listed = Sequence(index, False)
                self.depth = depth
        elif self.current is not None:
            self._inside(tag, depth - self.depth, index)
        if tag == "pathurl" and not self.first_pathurl:
            self.text, self.text_for = [], "pathurl"
        self.stack.append(tag)

    def _inside(self, tag: str, level: int, index: int) -> None:
        seq = self.current
        assert seq is not None
        path = self.stack[self.depth + 1:]
        if level == 1 and tag == "media":
            seq.media = Span(index)
        elif level == 2 and path == ["media"] and tag in ("video", "audio"):
            setattr(seq, tag, Span(index))
        elif level == 3 and tag == "track" and path[:1] == ["media"]:
            if path[1] == "video":
                seq.video_tracks += 1
                seq.last_video_track = Span(index)
            elif path[1] == "audio":
                seq.audio_tracks += 1
        elif level == 2 and path == ["rate"] and tag in ("timebase", "ntsc"):
            self.text, self.text_for = [], tag
        elif level == 2 and path == ["timecode"] and tag == "displayformat":
            self.text, self.text_for = [], "displayformat"

    def end(self, tag: str) -> None:
        index = self.parser.CurrentByteIndex
        self.stack.pop()
        depth = len(self.stack)
        if self.text is not None and tag == self.text_for:
            self._store("".join(self.text).strip())
            self.text = None
        seq = self.current
        if seq is None:
            return
        if depth == self.depth:
            self.current = None
            return
        level = depth - self.depth
        path = self.stack[self.depth + 1:]
        if level == 1 and tag == "media" and seq.media is not None:
            seq.media.end = index
        elif level == 2 and path == ["media"] and tag in ("video", "audio"):
            span = getattr(seq, tag)
            if span is not None:
                span.end = index
        elif (level == 3 and tag == "track" and path == ["media", "video"]
              and seq.last_video_track is not None):
            seq.last_video_track.end = index

    def _store(self, value: str) -> None:
        if self.text_for == "pathurl":
            self.first_pathurl = value
            return
        seq = self.current
        if seq is None:
            return
        if self.text_for == "timebase":
            seq.timebase = value
        elif self.text_for == "ntsc":
            seq.ntsc = value
        elif self.text_for == "displayformat":
            seq.tc_format = value

    def chars(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)


def scan(data: bytes, name: str = "timeline") -> Scan:
    """Positions in ``data`` (the document encoded as UTF-8)."""
    parser = expat.ParserCreate(encoding="utf-8")
    parser.buffer_text = True
    scanner = _Scanner(parser)
    parser.StartElementHandler = scanner.start
    parser.EndElementHandler = scanner.end
    parser.CharacterDataHandler = scanner.chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise TimelineError(f"not well-formed XML (line {exc.lineno}, column {exc.offset})",
                            path=name, hint="export the timeline again") from exc
    chosen = scanner.top or scanner.listed
    if chosen is None or chosen.media is None:
        raise TimelineError("no sequence with media in this FCP 7 XML", path=name,
                            hint="export a sequence, not a bin or a clip")
    return Scan(scanner.ids, chosen, scanner.first_pathurl)
