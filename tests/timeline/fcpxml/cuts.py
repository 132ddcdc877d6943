# ruff: noqa: E501  (the cut is written as Final Cut writes it: one element a line)
"""FCPXML cuts written the way Final Cut writes them, at every rate the bridge must get
right, from 00:00:00:00 and from 01:00:00:00, in every FCPXML version 1.8-1.13.

One shape everywhere (timeline frames from the project's start; every number in
:data:`PLAYS` is worked out by hand from the layout below, not by the reader):

  primary   A001 [0,48) | A002 [48,108) (self-closing) | gap [108,138) | A001 [138,234)
            | audition: A002 [234,270) (B001 the inactive pick) | A001 retimed [270,294)
            | A002 disabled [294,318) | title [318,342) | sync-clip A001 [342,390)
            | C001 [390,438) (self-closing)
  lane 1    B001 [10,34) on A001; storyline in A001@138 from 162: A002 [162,186) B001 [186,210)
  lane 2    C001 [113,133) on the gap
  lane -1   MUSIC (audio only) [0,48) on A001
  markers   "kling: rain on the window" on A001 at 10 (1 s); "kling: aerial city at dusk" on
            the gap at 113 (3 s); a transition across the A001|A002 cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from urllib.parse import quote

#: label -> (frameDuration numerator, denominator, timecode format, frames in one hour of
#: that rate's own timecode)
RATES: dict[str, tuple[int, int, str, int]] = {
    "23.976": (1001, 24000, "NDF", 86400),
    "25": (100, 2500, "NDF", 90000),
    "29.97DF": (1001, 30000, "DF", 107892),
    "29.97NDF": (1001, 30000, "NDF", 108000),
    "30": (100, 3000, "NDF", 108000),
    "59.94": (1001, 60000, "DF", 215784),
}
VERSIONS = ["1.8", "1.9", "1.10", "1.11", "1.12", "1.13"]

#: (name, lane, record start, length, first source frame) of every clip that can be
#: restyled; the source frame counts from the media file's first frame.
PLAYS = [
    ("A001", 0, 0, 48, 10), ("B001", 1, 10, 24, 100), ("A002", 0, 48, 60, 100),
    ("C001 take #1", 2, 113, 20, 0), ("A001", 0, 138, 96, 200), ("A002", 1, 162, 24, 10),
    ("B001", 1, 186, 24, 200), ("A002", 0, 234, 36, 200), ("A001 sync", 0, 342, 48, 300),
    ("C001 take #1", 0, 390, 48, 0),
]
#: (name, what the reason says) of the clips selection must leave out.
SKIPPED = [("A001 fast", "retimed (speed 200%)"), ("A002 off", "disabled"),
           ("Basic Title", "generator or title")]
#: (record start, length in frames) of the prompt markers.
PROMPTS = [(10, "rain on the window"), (113, "aerial city at dusk")]
LENGTH = 438


@dataclass(frozen=True)
class Cut:
    label: str
    hour: bool
    version: str
    text: str
    rate: Fraction
    start: int  # timeline start frame (0 or one hour)
    style: str  # "pretty", "tabs" or "compact"


def cut(label: str, hour: bool, version: str, style: str = "pretty",
        media: str = "/Volumes/Media/cam") -> Cut:
    num, den, tc_format, hour_frames = RATES[label]
    fd = Fraction(num, den)

    def t(frames: int) -> str:  # FCP writes unreduced multiples of the frame duration
        return "0s" if frames == 0 else f"{frames * num}/{den}s"

    h = hour_frames  # camera files start at 01:00:00:00 of their own timecode
    t0 = hour_frames if hour else 0
    v = tuple(int(p) for p in version.split("."))
    name = {"23.976": "2398", "29.97DF": "2997", "29.97NDF": "2997", "59.94": "5994"}.get(
        label, label)

    def asset(ident: str, asset_name: str, path: str, start: int, length: int,
              video: bool = True, fmt: str = "r1") -> str:
        url = "file://" + quote(path)
        av = (f'hasVideo="1" format="{fmt}" hasAudio="1" videoSources="1" audioSources="1" '
              'audioChannels="2" audioRate="48000"' if video else
              'hasAudio="1" audioSources="1" audioChannels="2" audioRate="48000"')
        head = f'<asset id="{ident}" name="{asset_name}" uid="{ident.upper()}UID" ' \
               f'start="{t(start)}" duration="{t(length)}" {av}'
        if v < (1, 9):
            return f'{head} src="{url}"/>'
        return f'{head}>\n\t<media-rep kind="original-media" src="{url}"/>\n</asset>'

    resources = "\n".join([
        f'<format id="r1" name="FFVideoFormat1080p{name}" frameDuration="{num}/{den}s" '
        'width="1920" height="1080" colorSpace="1-1-1 (Rec. 709)"/>',
        asset("r2", "A001", f"{media}/A001.mov", h, 600),
        asset("r3", "A002", f"{media}/A002.mov", 0, 400),
        asset("r4", "B001", f"{media}/B001.mov", h + 1000, 500),
        asset("r5", "MUSIC", f"{media}/music.wav", 0, 2000, video=False),
        '<effect id="r6" name="Basic Title" uid=".../Titles.localized/Bumper:Opener.localized/'
        'Basic Title.localized/Basic Title.moti"/>',
        asset("r7", "C001 take #1", f"{media}/C001 take #1 100%.mov", 0, 300),
        '<effect id="r8" name="Cross Dissolve" uid="FxPlug:4731E73A-8DAC-4113-9A30-AE85B1761265"/>',
    ])

    def o(frames: int) -> str:
        return t(t0 + frames)

    spine = f"""<asset-clip ref="r2" offset="{o(0)}" name="A001" start="{t(h + 10)}" duration="{t(48)}" tcFormat="NDF" audioRole="dialogue">
	<adjust-colorConform enabled="1" autoOrManual="manual" conformType="conformNone" peakNitsOfPQSource="1000" peakNitsOfSDRToPQSource="203"/>
	<asset-clip ref="r4" lane="1" offset="{t(h + 20)}" name="B001" start="{t(h + 1100)}" duration="{t(24)}" tcFormat="NDF" audioRole="dialogue"/>
	<asset-clip ref="r5" lane="-1" offset="{t(h + 10)}" name="MUSIC" duration="{t(48)}" audioRole="music"/>
	<marker start="{t(h + 20)}" duration="{t(round(1 / fd))}" value="kling: rain on the window"/>
</asset-clip>
<transition name="Cross Dissolve" offset="{o(42)}" duration="{t(12)}">
	<filter-video ref="r8" name="Cross Dissolve"/>
</transition>
<asset-clip ref="r3" offset="{o(48)}" name="A002" start="{t(100)}" duration="{t(60)}" audioRole="dialogue"/>
<gap name="Gap" offset="{o(108)}" start="3600s" duration="{t(30)}">
	<asset-clip ref="r7" lane="2" offset="{_plus('3600s', t(5), fd)}" name="C001 take #1" duration="{t(20)}" audioRole="dialogue"/>
	<marker start="{_plus('3600s', t(5), fd)}" duration="{t(3 * round(1 / fd))}" value="B-roll" note="kling: aerial city at dusk"/>
</gap>
<asset-clip ref="r2" offset="{o(138)}" name="A001" start="{t(h + 200)}" duration="{t(96)}" audioRole="dialogue">
	<spine lane="1" offset="{t(h + 224)}" format="r1">
		<asset-clip ref="r3" offset="0s" name="A002" start="{t(10)}" duration="{t(24)}" audioRole="dialogue"/>
		<asset-clip ref="r4" offset="{t(24)}" name="B001" start="{t(h + 1200)}" duration="{t(24)}" audioRole="dialogue"/>
	</spine>
	<keyword start="{t(h + 200)}" duration="{t(96)}" value="interview"/>
</asset-clip>
<audition offset="{o(234)}">
	<asset-clip ref="r3" name="A002" start="{t(200)}" duration="{t(36)}" audioRole="dialogue"/>
	<asset-clip ref="r4" name="B001" start="{t(h + 1300)}" duration="{t(50)}" audioRole="dialogue"/>
</audition>
<asset-clip ref="r2" offset="{o(270)}" name="A001 fast" start="{t(h + 400)}" duration="{t(24)}" audioRole="dialogue">
	<timeMap>
		<timept time="0s" value="0s" interp="smooth2"/>
		<timept time="{t(24)}" value="{t(48)}" interp="smooth2"/>
	</timeMap>
</asset-clip>
<asset-clip ref="r3" offset="{o(294)}" name="A002 off" start="{t(300)}" duration="{t(24)}" enabled="0" audioRole="dialogue"/>
<title ref="r6" offset="{o(318)}" name="Basic Title" start="3600s" duration="{t(24)}">
	<text>
		<text-style ref="ts1">Title</text-style>
	</text>
	<text-style-def id="ts1">
		<text-style font="Helvetica" fontSize="63" fontColor="1 1 1 1"/>
	</text-style-def>
</title>
<sync-clip offset="{o(342)}" name="A001 sync" duration="{t(48)}" tcFormat="NDF">
	<asset-clip ref="r2" offset="0s" name="A001" start="{t(h + 300)}" duration="{t(48)}" audioRole="dialogue">
		<asset-clip ref="r5" lane="-1" offset="{t(h + 300)}" name="MUSIC" start="{t(100)}" duration="{t(48)}" audioRole="music"/>
	</asset-clip>
	<sync-source sourceID="storyline"/>
</sync-clip>
<asset-clip ref="r7" offset="{o(390)}" name="C001 take #1" duration="{t(48)}" audioRole="dialogue"/>"""
    sequence = (f'<sequence format="r1" duration="{t(LENGTH)}" tcStart="{t(t0)}" '
                f'tcFormat="{tc_format}" audioLayout="stereo" audioRate="48k">\n'
                f'\t<spine>\n{_indent(spine, 2)}\n\t</spine>\n</sequence>')
    project = (f'<project name="cut {label}{" 1h" if hour else ""}" uid="PROJECT-UID" '
               f'modDate="2025-01-01 12:00:00 +0000">\n{_indent(sequence, 1)}\n</project>')
    if v >= (1, 9):
        body = (f'<library location="file:///Users/editor/Movies/Cuts.fcpbundle/">\n'
                f'\t<event name="Cuts" uid="EVENT-UID">\n{_indent(project, 2)}\n\t</event>\n'
                '</library>')
    else:
        body = project
    text = (f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n\n'
            f'<fcpxml version="{version}">\n\t<resources>\n{_indent(resources, 2)}\n'
            f'\t</resources>\n{_indent(body, 1)}\n</fcpxml>\n')
    if style == "pretty":
        text = text.replace("\t", "    ")
    elif style == "compact":
        text = "".join(line.strip() for line in text.splitlines(keepends=False)
                       if line.strip()).replace("?><!DOCTYPE fcpxml>", "?>\n<!DOCTYPE fcpxml>\n")
    return Cut(label, hour, version, text, 1 / fd, t0, style)


def _plus(a: str, b: str, fd: Fraction) -> str:
    total = Fraction(a.rstrip("s")) + Fraction(b.rstrip("s"))
    del fd
    return f"{total.numerator}/{total.denominator}s" if total.denominator != 1 else \
        f"{total.numerator}s"


def _indent(text: str, depth: int) -> str:
    return "\n".join("\t" * depth + line for line in text.splitlines())


def all_cuts() -> list[Cut]:
    """Every rate from 00:00:00:00 and from 01:00:00:00, the versions taking turns, one
    written with tabs and one on a single line."""
    found = []
    for n, (label, hour) in enumerate((label, hour) for label in RATES for hour in (False, True)):
        style = "tabs" if n == 5 else "compact" if n == 8 else "pretty"
        found.append(cut(label, hour, VERSIONS[n % len(VERSIONS)], style))
    return found


def cut_id(cut: Cut) -> str:
    return f"{cut.label}{'-1h' if cut.hour else ''}-v{cut.version}-{cut.style}"
