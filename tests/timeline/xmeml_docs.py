"""FCP 7 XML documents shaped the way Premiere Pro writes them, at every rate the splice
must get right, starting at 00:00:00:00 or 01:00:00:00.

Built as text (tabs, Premiere's element order, ``file-N`` ids, a stereo pair exploded
into two tracks) and described by :class:`Doc`: the numbers a test needs to say where
each added element must be, worked out here from the XML values themselves -- never
through the reader under test.

Layout (sequence frames from the sequence start; r = the timebase):
  V1: A001 [0, 2r) in 24 | A002 [2r, 5r) | A003 [5r, 6r) *disabled* | gap | A004 [7r, 9r)
  V2 (*switched off*): B001 [r/2, 3r/2)
  A1/A2 (stereo pair): A001's sound
  sequence marker "kling: rain on a tin roof" at 10r
A002 and A003 share one file path with different lengths (96 and 81 frames at 24 fps: what
Premiere writes for two subclips of one file); A001's name has ``&``, ``#`` and an accent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import opentimelineio as otio

#: label -> (timebase, ntsc, drop frame)
RATES: dict[str, tuple[int, bool, bool]] = {
    "23.976": (24, True, False),
    "25": (25, False, False),
    "29.97DF": (30, True, True),
    "29.97NDF": (30, True, False),
    "30": (30, False, False),
    "59.94": (60, True, True),
}
STARTS = ("00:00:00:00", "01:00:00:00")


@dataclass(frozen=True)
class Source:
    """One clip item as the document states it."""

    clip_id: str
    name: str
    file_id: str
    path: str
    start: int
    end: int
    in_: int
    file_frames: int
    file_tc: int  # the file's first timecode, as a frame number
    enabled: bool = True
    track: int = 1


@dataclass
class Doc:
    label: str
    start_tc: str
    timebase: int
    ntsc: bool
    drop: bool
    text: str = ""
    sources: list[Source] = field(default_factory=list)
    marker_at: int = 0

    @property
    def rate(self) -> float:
        return self.timebase * 1000 / 1001 if self.ntsc else float(self.timebase)

    @property
    def name(self) -> str:
        return f"premiere_{self.label}_{self.start_tc[:2]}h"

    def timecode(self, frames: int) -> str:
        """``frames`` as this document's timecode (``;`` for drop frame)."""
        return str(otio.opentime.to_timecode(otio.opentime.RationalTime(frames, self.rate),
                                             self.rate, self.drop))

    def frames(self, timecode: str) -> int:
        return round(otio.opentime.from_timecode(timecode, self.rate).value)

    @property
    def start_frame(self) -> int:
        return self.frames(self.start_tc.replace(":", ";") if self.drop else self.start_tc)


def build(label: str, start_tc: str, media: str = "/Volumes/Media/day 1") -> Doc:
    timebase, ntsc, drop = RATES[label]
    doc = Doc(label, start_tc, timebase, ntsc, drop)
    r = timebase
    camera_tc = doc.frames("01:00:00;00" if drop else "01:00:00:00")
    doc.sources = [
        Source("clipitem-1", "A001 take #1 & café.mov", "file-1",
               f"{media}/A001 take #1 & café.mov", 0, 2 * r, 24, 10 * r, camera_tc),
        Source("clipitem-2", "A002.mov", "file-2", f"{media}/A002.mov", 2 * r, 5 * r, 0,
               4 * r, camera_tc + 100),
        Source("clipitem-3", "A002.mov", "file-3", f"{media}/A002.mov", 5 * r, 6 * r, 0,
               4 * r - 15, camera_tc + 100, enabled=False),
        Source("clipitem-4", "A004.mov", "file-4", f"{media}/A004.mov", 7 * r, 9 * r, 10,
               3 * r, camera_tc + 2000),
        Source("clipitem-5", "B001.mov", "file-5", f"{media}/B001.mov", r // 2,
               r // 2 + r, 0, 2 * r, camera_tc + 500, track=2),
    ]
    doc.marker_at = 10 * r
    doc.text = _document(doc)
    return doc


def _rate(doc: Doc, depth: int) -> str:
    pad = "\t" * depth
    return (f"{pad}<rate>\n{pad}\t<timebase>{doc.timebase}</timebase>\n"
            f"{pad}\t<ntsc>{'TRUE' if doc.ntsc else 'FALSE'}</ntsc>\n{pad}</rate>\n")


def _timecode(doc: Doc, frame: int, depth: int, reel: bool = False) -> str:
    pad = "\t" * depth
    text = (f"{pad}<timecode>\n{_rate(doc, depth + 1)}"
            f"{pad}\t<string>{doc.timecode(frame)}</string>\n{pad}\t<frame>{frame}</frame>\n"
            f"{pad}\t<displayformat>{'DF' if doc.drop else 'NDF'}</displayformat>\n")
    if reel:
        text += f"{pad}\t<reel>\n{pad}\t\t<name></name>\n{pad}\t</reel>\n"
    return text + f"{pad}</timecode>\n"


def _file(doc: Doc, source: Source, depth: int, defined: set[str]) -> str:
    pad = "\t" * depth
    if source.file_id in defined:
        return f'{pad}<file id="{source.file_id}"/>\n'
    defined.add(source.file_id)
    url = "file://localhost" + source.path.replace(" ", "%20").replace("#", "%23").replace(
        "&", "%26").replace("é", "%C3%A9")
    return (f'{pad}<file id="{source.file_id}">\n'
            f"{pad}\t<name>{escape(source.name)}</name>\n"
            f"{pad}\t<pathurl>{url}</pathurl>\n{_rate(doc, depth + 1)}"
            f"{pad}\t<duration>{source.file_frames}</duration>\n"
            f"{_timecode(doc, source.file_tc, depth + 1, reel=True)}"
            f"{pad}\t<media>\n{pad}\t\t<video>\n{pad}\t\t\t<samplecharacteristics>\n"
            f"{_rate(doc, depth + 4)}{pad}\t\t\t\t<width>1920</width>\n"
            f"{pad}\t\t\t\t<height>1080</height>\n{pad}\t\t\t\t<anamorphic>FALSE</anamorphic>\n"
            f"{pad}\t\t\t\t<pixelaspectratio>square</pixelaspectratio>\n"
            f"{pad}\t\t\t\t<fielddominance>none</fielddominance>\n"
            f"{pad}\t\t\t</samplecharacteristics>\n{pad}\t\t</video>\n"
            f"{pad}\t\t<audio>\n{pad}\t\t\t<samplecharacteristics>\n"
            f"{pad}\t\t\t\t<depth>16</depth>\n{pad}\t\t\t\t<samplerate>48000</samplerate>\n"
            f"{pad}\t\t\t</samplecharacteristics>\n{pad}\t\t\t<channelcount>2</channelcount>\n"
            f"{pad}\t\t</audio>\n{pad}\t</media>\n{pad}</file>\n")


def _clipitem(doc: Doc, source: Source, defined: set[str], audio_channel: int = 0,
              clip_id: str | None = None) -> str:
    pad = "\t" * 5
    attrs = ' frameBlend="FALSE"' + (' premiereChannelType="stereo"' if audio_channel else "")
    text = (f'{pad}<clipitem id="{clip_id or source.clip_id}"{attrs}>\n'
            f"{pad}\t<masterclipid>masterclip-{source.file_id[5:]}</masterclipid>\n"
            f"{pad}\t<name>{escape(source.name)}</name>\n"
            f"{pad}\t<enabled>{'TRUE' if source.enabled else 'FALSE'}</enabled>\n"
            f"{pad}\t<duration>{source.file_frames}</duration>\n{_rate(doc, 6)}"
            f"{pad}\t<start>{source.start}</start>\n{pad}\t<end>{source.end}</end>\n"
            f"{pad}\t<in>{source.in_}</in>\n"
            f"{pad}\t<out>{source.in_ + source.end - source.start}</out>\n"
            f"{pad}\t<alphatype>none</alphatype>\n{_file(doc, source, 6, defined)}")
    if audio_channel:
        text += (f"{pad}\t<sourcetrack>\n{pad}\t\t<mediatype>audio</mediatype>\n"
                 f"{pad}\t\t<trackindex>{audio_channel}</trackindex>\n{pad}\t</sourcetrack>\n")
    text += (f"{pad}\t<logginginfo>\n{pad}\t\t<description></description>\n"
             f"{pad}\t\t<scene></scene>\n{pad}\t\t<shottake></shottake>\n"
             f"{pad}\t\t<lognote></lognote>\n{pad}\t</logginginfo>\n"
             f"{pad}\t<labels>\n{pad}\t\t<label2>Iris</label2>\n{pad}\t</labels>\n"
             f"{pad}</clipitem>\n")
    return text


def _track(items: str, enabled: bool = True, attrs: str = "") -> str:
    pad = "\t" * 4
    return (f"{pad}<track{attrs}>\n{items}{pad}\t<enabled>{'TRUE' if enabled else 'FALSE'}"
            f"</enabled>\n{pad}\t<locked>FALSE</locked>\n{pad}</track>\n")


def _document(doc: Doc) -> str:
    defined: set[str] = set()
    v1 = "".join(_clipitem(doc, s, defined) for s in doc.sources if s.track == 1)
    v2 = "".join(_clipitem(doc, s, defined) for s in doc.sources if s.track == 2)
    first = doc.sources[0]
    stereo = ' currentExplodedTrackIndex="{}" totalExplodedTrackCount="2" ' \
        'premiereTrackType="Stereo"'
    a1 = _clipitem(doc, first, defined, 1, "clipitem-6")
    a2 = _clipitem(doc, first, defined, 2, "clipitem-7")
    total = max(s.end for s in doc.sources)
    video = _track(v1, attrs=' MZ.TrackTargeted="1"') + _track(v2, enabled=False)
    audio = _track(a1, attrs=stereo.format(0)) + _track(a2, attrs=stereo.format(1))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n<xmeml version="4">\n'
        '\t<sequence id="sequence-1" TL.SQAudioVisibleBase="0" explodedTracks="true">\n'
        "\t\t<uuid>5ea30a6b-552f-4722-be92-6dfdb66c97e6</uuid>\n"
        f"\t\t<duration>{total}</duration>\n{_rate(doc, 2)}"
        f"\t\t<name>cut {doc.label} from {doc.start_tc}</name>\n"
        "\t\t<media>\n\t\t\t<video>\n\t\t\t\t<format>\n\t\t\t\t\t<samplecharacteristics>\n"
        f"{_rate(doc, 6)}\t\t\t\t\t\t<width>1920</width>\n\t\t\t\t\t\t<height>1080</height>\n"
        "\t\t\t\t\t</samplecharacteristics>\n\t\t\t\t</format>\n"
        f"{video}"
        "\t\t\t</video>\n\t\t\t<audio>\n\t\t\t\t<numOutputChannels>2</numOutputChannels>\n"
        f"{audio}"
        "\t\t\t</audio>\n\t\t</media>\n"
        f"{_timecode(doc, doc.start_frame, 2)}"
        "\t\t<marker>\n\t\t\t<comment>kling: rain on a tin roof</comment>\n"
        f"\t\t\t<name>B-roll</name>\n\t\t\t<in>{doc.marker_at}</in>\n\t\t\t<out>-1</out>\n"
        "\t\t</marker>\n"
        "\t\t<labels>\n\t\t\t<label2>Forest</label2>\n\t\t</labels>\n"
        "\t</sequence>\n</xmeml>\n")
