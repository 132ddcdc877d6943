"""Results spliced into the editor's own FCP 7 XML (Premiere, Resolve, Final Cut 7).

Writing a result back through OpenTimelineIO's FCP 7 adapter loses the editor's work (it
re-links clips sharing a path to the first ``<file>``, halves stereo pairs, drops what it
does not model, repeats ``<rate>``). Here the result is the editor's own document with text
inserted at two places and nothing else changed:

- before the chosen sequence's ``</video>``: one ``<track>`` per look (and per lane where
  sources overlap), each ``<clipitem>`` exactly over its source -- ``<start>``/``<end>`` at
  the sequence rate, ``<in>``/``<out>`` in the rendered file -- with a new ``<file>`` of the
  rendered media (its own timecode, frame count and size), and a B-roll track;
- before ``</audio>`` (created if the sequence had none): the B-roll's sound as a stereo
  pair of tracks, the way Premiere writes one, linked to its picture.

New ``id`` values never collide with the document's. The XML declaration, DOCTYPE, version,
attribute order, indentation and line endings are the editor's; the new elements follow the
indentation of the tracks around them. Each new clip says where it came from: a one-line
note in ``<logginginfo><description>`` (Premiere's Description column) and the full record
as ``name: value`` pairs in ``<lognote>`` (read back by :mod:`..quirks`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from fractions import Fraction
from xml.sax.saxutils import escape

from kling_bridge.timeline import provenance
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.fcp7.scan import Scan, Sequence, Span, scan
from kling_bridge.timeline.paths import url_from_path
from kling_bridge.timeline.placement import (
    Placed,
    PlannedTrack,
    ResultClip,
    check_results,
    plan_tracks,
    source_in,
)
from kling_bridge.timeline.rates import exact_rate, is_drop_frame_rate

_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def declared_encoding(data: bytes) -> str:
    """The encoding the XML declaration names (UTF-8 when it names none)."""
    found = _DECLARED.match(data[:200])
    return found.group(1).decode("ascii") if found else "utf-8"


def splice_xmeml(text: str, results: Iterable[ResultClip], *, name: str = "timeline") -> str:
    """``text`` (an FCP 7 XML document) with the results' tracks added to its sequence."""
    checked = check_results(results)
    if not checked:
        return text
    data = text.encode("utf-8")
    found = scan(data, name)
    sequence = found.sequence
    assert sequence is not None and sequence.media is not None
    _check_rate(sequence, checked, name)
    writer = _Writer(found, data, checked[0].clip.timeline_rate)
    planned = plan_tracks(checked)
    video = [t for t in planned if t.kind == "Video"]
    audio = [t for t in planned if t.kind == "Audio"]
    writer.assign_ids(video, audio)
    edits: list[tuple[int, int, bytes]] = []  # (from, to, replacement)
    if video:
        edits.append(writer.insert_into(sequence.video, "video", sequence.media,
                                        writer.video_tracks(video)))
    if audio:
        edits.append(writer.insert_into(sequence.audio, "audio", sequence.media,
                                        writer.audio_tracks(audio)))
    for start, end, piece in sorted(edits, key=lambda e: e[0], reverse=True):
        data = data[:start] + piece + data[end:]
    return data.decode("utf-8")


def _check_rate(sequence: Sequence, results: list[ResultClip], name: str) -> None:
    rate = sequence.rate
    for result in results:
        if rate and exact_rate(result.clip.timeline_rate) != rate:
            raise TimelineError(
                f"the results were placed at {result.clip.timeline_rate} fps but the "
                f"sequence runs at {float(rate):g}", path=name,
                hint="the timeline file changed since the jobs were made: restyle it again")


class _Writer:
    """Builds the new elements in the document's own indentation and line endings."""

    def __init__(self, found: Scan, data: bytes, found_rate: str) -> None:
        self.found = found
        self.data = data
        self.taken = set(found.ids)
        self.newline = "\r\n" if b"\r\n" in data[:4096] else "\n"
        self.localhost = found.first_pathurl.startswith("file://localhost/")
        self.counters: dict[str, int] = {}
        self.files: dict[str, str] = {}  # path -> file id (the first use defines it)
        self.items: dict[tuple[str, int], tuple[str, str, int, int]] = {}
        sequence = found.sequence
        assert sequence is not None
        self.sequence = sequence
        self.unit = self._indent_unit()
        # the sequence's own rate; one that inherits it (no <rate> of its own) is the rate
        # the results were placed at, which the reader took from the same document
        self.tc_rate = sequence.rate or exact_rate(found_rate)

    # ------------------------------------------------------------------ layout

    def _line_indent(self, offset: int) -> str:
        line_start = self.data.rfind(b"\n", 0, offset) + 1
        head = self.data[line_start:offset]
        return head.decode("utf-8") if head.strip() == b"" else ""

    def _indent_unit(self) -> str:
        seq = self.sequence
        media = seq.media
        assert media is not None
        outer = self._line_indent(media.start)
        inner = self._line_indent(seq.video.start) if seq.video else ""
        if inner.startswith(outer) and len(inner) > len(outer):
            return inner[len(outer):]
        return "\t" if "\t" in outer else "  "

    def insert_into(self, span: Span | None, tag: str, media: Span,
                    lines: list[tuple[int, str]]) -> tuple[int, int, bytes]:
        """Replacement text for the new tracks inside ``<tag>`` (created before
        ``</media>`` when the sequence has none). ``lines`` are (depth below ``<tag>``,
        text)."""
        if span is not None and span.end > span.start:
            base = self._line_indent(span.end)
            body = self._render(lines, base + self.unit)
            at = span.end
            before = at
            while before > 0 and self.data[before - 1:before] in (b" ", b"\t"):
                before -= 1
            return before, at, (body + base).encode("utf-8")
        base = self._line_indent(media.end) + self.unit
        body = (f"<{tag}>" + self.newline + self._render(lines, base + self.unit) + base
                + f"</{tag}>" + self.newline)
        if span is not None:  # <audio/>: replaced by a full element
            close = self.data.index(b">", span.start) + 1
            return span.start, close, body.rstrip("\r\n").encode("utf-8")
        before = media.end
        while before > 0 and self.data[before - 1:before] in (b" ", b"\t"):
            before -= 1
        end_indent = self._line_indent(media.end)
        return before, media.end, (base + body + end_indent).encode("utf-8")

    def _render(self, lines: list[tuple[int, str]], base: str) -> str:
        return "".join(base + self.unit * depth + line + self.newline for depth, line in lines)

    # ------------------------------------------------------------------ ids

    def new_id(self, kind: str) -> str:
        """``kling-file-1``, ``kling-clipitem-1``...: the next number the document has not
        used with that prefix."""
        while True:
            self.counters[kind] = self.counters.get(kind, 0) + 1
            candidate = f"kling-{kind}-{self.counters[kind]}"
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate

    # ------------------------------------------------------------------ tracks

    def assign_ids(self, video: list[PlannedTrack], audio: list[PlannedTrack]) -> None:
        """Every new clip item's id, track number and place, before any is written: the
        picture and the sound of one B-roll file each list all three in their links."""
        self.items = {}
        number = self.sequence.video_tracks
        for track in video:
            number += 1
            for index, placed in enumerate(track.items, 1):
                self.items[(placed.result.job_id, 0)] = (
                    self.new_id("clipitem"), "video", number, index)
        number = self.sequence.audio_tracks
        for track in audio:
            for channel in (1, 2):
                number += 1
                for index, placed in enumerate(track.items, 1):
                    self.items[(placed.result.job_id, channel)] = (
                        self.new_id("clipitem"), "audio", number, index)

    def video_tracks(self, planned: list[PlannedTrack]) -> list[tuple[int, str]]:
        lines: list[tuple[int, str]] = []
        for track in planned:
            lines.append((0, "<track>"))
            lines.append((1, f"<name>{escape(track.name)}</name>"))
            for placed in track.items:
                lines.extend(self._clipitem(placed, 0))
            lines.append((1, "<enabled>TRUE</enabled>"))
            lines.append((1, "<locked>FALSE</locked>"))
            lines.append((0, "</track>"))
        return lines

    def audio_tracks(self, planned: list[PlannedTrack]) -> list[tuple[int, str]]:
        """Each B-roll sound track as a stereo pair (left, right), as Premiere exports it."""
        lines: list[tuple[int, str]] = []
        for track in planned:
            for channel in (1, 2):
                lines.append((0, f'<track currentExplodedTrackIndex="{channel - 1}" '
                                 'totalExplodedTrackCount="2" premiereTrackType="Stereo">'))
                lines.append((1, f"<name>{escape(track.name)}</name>"))
                for placed in track.items:
                    lines.extend(self._clipitem(placed, channel))
                lines.append((1, "<enabled>TRUE</enabled>"))
                lines.append((1, "<locked>FALSE</locked>"))
                lines.append((1, f"<outputchannelindex>{channel}</outputchannelindex>"))
                lines.append((0, "</track>"))
        return lines

    def _clipitem(self, placed: Placed, channel: int) -> Iterator[tuple[int, str]]:
        """One ``<clipitem>`` (``channel`` 0: picture; 1, 2: left and right sound)."""
        result = placed.result
        clip_id = self.items[(result.job_id, channel)][0]
        rate = self.tc_rate
        scale = rate / result.media_rate
        first = _whole(Fraction(result.handle_before) * scale)
        frames = result.frames if result.frames else _whole(placed.length / scale)
        if result.kind == "restyle":
            name = f"{result.clip.name} [{result.track_label}]"
        else:
            name = result.clip.name or "B-roll"
        attrs = ' premiereChannelType="stereo"' if channel else ""
        yield 1, f'<clipitem id="{clip_id}"{attrs}>'
        yield 2, f"<name>{escape(name)}</name>"
        yield 2, "<enabled>TRUE</enabled>"
        yield 2, f"<duration>{_whole(frames * scale)}</duration>"
        yield from ((2 + d, line) for d, line in _rate(rate))
        yield 2, f"<start>{placed.start}</start>"
        yield 2, f"<end>{placed.start + placed.length}</end>"
        yield 2, f"<in>{first}</in>"
        yield 2, f"<out>{first + placed.length}</out>"
        yield from ((2 + d, line) for d, line in self._file(result, frames))
        if channel:
            yield 2, "<sourcetrack>"
            yield 3, "<mediatype>audio</mediatype>"
            yield 3, f"<trackindex>{channel}</trackindex>"
            yield 2, "</sourcetrack>"
        yield from ((2 + d, line) for d, line in self._links(result))
        yield 2, "<logginginfo>"
        yield 3, f"<description>{escape(result.note)}</description>"
        yield 3, f"<lognote>{escape(provenance.record_line(result.provenance()))}</lognote>"
        yield 2, "</logginginfo>"
        yield 1, "</clipitem>"

    def _links(self, result: ResultClip) -> list[tuple[int, str]]:
        """Picture and sound of one B-roll file linked, so they move together."""
        members = [self.items[(result.job_id, c)] for c in (0, 1, 2)
                   if (result.job_id, c) in self.items]
        if len(members) < 2:
            return []
        lines: list[tuple[int, str]] = []
        for member, kind, number, clip_index in members:
            lines.append((0, "<link>"))
            lines.append((1, f"<linkclipref>{member}</linkclipref>"))
            lines.append((1, f"<mediatype>{kind}</mediatype>"))
            lines.append((1, f"<trackindex>{number}</trackindex>"))
            lines.append((1, f"<clipindex>{clip_index}</clipindex>"))
            if kind == "audio":
                lines.append((1, "<groupindex>1</groupindex>"))
            lines.append((0, "</link>"))
        return lines

    def _file(self, result: ResultClip, frames: int) -> list[tuple[int, str]]:
        known = self.files.get(result.path)
        if known is not None:
            return [(0, f'<file id="{known}"/>')]
        file_id = self.new_id("file")
        self.files[result.path] = file_id
        rate = result.media_rate
        url = url_from_path(result.path)
        if self.localhost and url.startswith("file:///"):
            url = "file://localhost/" + url[len("file:///"):]
        lines = [(0, f'<file id="{file_id}">'),
                 (1, f"<name>{escape(result.path.replace(chr(92), '/').rsplit('/', 1)[-1])}"
                     "</name>"),
                 (1, f"<pathurl>{escape(url)}</pathurl>")]
        lines.extend((1 + d, line) for d, line in _rate(rate))
        lines.append((1, f"<duration>{frames}</duration>"))
        lines.extend((1 + d, line) for d, line in _timecode(result, rate))
        lines.append((1, "<media>"))
        lines.append((2, "<video>"))
        lines.append((3, f"<duration>{frames}</duration>"))
        lines.append((3, "<samplecharacteristics>"))
        lines.extend((4 + d, line) for d, line in _rate(rate))
        if result.width and result.height:
            lines.append((4, f"<width>{result.width}</width>"))
            lines.append((4, f"<height>{result.height}</height>"))
        lines.append((3, "</samplecharacteristics>"))
        lines.append((2, "</video>"))
        if result.has_audio:
            lines.append((2, "<audio>"))
            lines.append((3, "<samplecharacteristics>"))
            lines.append((4, "<depth>16</depth>"))
            lines.append((4, "<samplerate>48000</samplerate>"))
            lines.append((3, "</samplecharacteristics>"))
            lines.append((3, "<channelcount>2</channelcount>"))
            lines.append((2, "</audio>"))
        lines.append((1, "</media>"))
        lines.append((0, "</file>"))
        return lines


def _whole(value: Fraction | int) -> int:
    return round(value)


def _rate(rate: Fraction) -> list[tuple[int, str]]:
    """``<rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate>`` for 23.976."""
    ntsc = rate.denominator == 1001
    base = round(rate * 1001 / 1000) if ntsc else round(rate)
    return [(0, "<rate>"), (1, f"<timebase>{base}</timebase>"),
            (1, f"<ntsc>{'TRUE' if ntsc else 'FALSE'}</ntsc>"), (0, "</rate>")]


def _timecode(result: ResultClip, rate: Fraction) -> list[tuple[int, str]]:
    """The rendered file's own first timecode (a restyle keeps its source's)."""
    first = result.first_frame
    drop = bool(result.timecode and ";" in result.timecode) and is_drop_frame_rate(rate)
    text = result.timecode or "00:00:00:00"
    return [(0, "<timecode>"), *((1 + d, line) for d, line in _rate(rate)),
            (1, f"<string>{escape(text)}</string>"), (1, f"<frame>{first}</frame>"),
            (1, f"<displayformat>{'DF' if drop else 'NDF'}</displayformat>"),
            (0, "</timecode>")]


__all__ = ["declared_encoding", "source_in", "splice_xmeml"]
