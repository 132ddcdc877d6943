"""CMX 3600 EDLs: odd events left out on the way in, one EDL per new track on the way out.

**Why an EDL result cannot carry the whole cut.** An EDL is a list of events on *one* picture
track (plus sound channels), each naming a tape or file by a reel name of up to 8 (or 32)
characters and a source timecode. It has no way to say "track V3", no clip colours, no
markers besides comments, and no place for the editor's effects. So the bridge never
rewrites the editor's EDL: each new track (a look, its second lane, the B-roll) comes back as
its own EDL, holding only the new clips at their record timecodes, to load as a new track
over the original cut in the editor.

**Source timecodes are the rendered file's own.** A restyled file keeps its source's
timecode (the conform stamps it), so an event's source in/out are that file's timecode,
not a count from zero: the editor relinks by file name and timecode as with camera media.

On the way in (:func:`drop_odd_events`), an event OpenTimelineIO's reader would refuse --
source and record lengths that differ without a speed change (``M2``) or freeze frame to
say why, or a record that overlaps the event before it on the same track: hand-edited or
damaged events -- is left out with a reason instead of refusing the whole reel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fractions import Fraction

import opentimelineio as otio

from kling_bridge.timeline import provenance
from kling_bridge.timeline.errors import ClipIssue
from kling_bridge.timeline.placement import (
    PlannedTrack,
    ResultClip,
    check_results,
    in_timeline_frames,
    plan_tracks,
    source_in,
)
from kling_bridge.timeline.quirks import EDL_NOTE, EDL_RECORD
from kling_bridge.timeline.rates import exact_rate, is_drop_frame_rate

_TC = r"(\d{1,2}[:;.]\d{2}[:;.]\d{2}[:;.]\d{2})"
_EVENT = re.compile(r"^\s*(\d+)\s+(.*?)" + (r"\s+" + _TC) * 4 + r"\s*$")
_CLIP_NAME = re.compile(r"^\*\s*FROM CLIP NAME:\s*(.*?)\s*$")
_EXCUSED = re.compile(r"^\s*(M2\s|\*\s*FREEZE FRAME)")


# --------------------------------------------------------------------------- reading


def drop_odd_events(text: str, rate: float) -> tuple[str, list[ClipIssue]]:
    """``text`` without the events whose source and record lengths differ for no stated
    reason, and an issue naming each one left out."""
    lines = text.splitlines(keepends=True)
    issues: list[ClipIssue] = []
    dropped: set[int] = set()
    ends: dict[str, int] = {}  # record end of each track (V, A1, A2...) so far
    for number, members in _groups(lines):
        event_lines = [lines[i] for i in members]
        name = next((m.group(1) for m in map(_CLIP_NAME.match, event_lines) if m),
                    f"event {number}")
        why = _why_odd(event_lines, rate, ends)
        if why is not None:
            issues.append(ClipIssue(name, f"EDL event {number} left out: {why}"))
            dropped.update(members)
    if not dropped:
        return text, []
    return "".join(line for i, line in enumerate(lines) if i not in dropped), issues


def _groups(lines: list[str]) -> list[tuple[str, list[int]]]:
    """Line indexes of each event: its event line(s) (a transition repeats the number)
    and the comments after them."""
    groups: list[tuple[str, list[int]]] = []
    for index, line in enumerate(lines):
        found = _EVENT.match(line)
        if found:
            number = found.group(1)
            if groups and groups[-1][0] == number:
                groups[-1][1].append(index)
            else:
                groups.append((number, [index]))
        elif groups and line.strip() and not line.lstrip().startswith(("TITLE:", "FCM:")):
            groups[-1][1].append(index)
    return groups


_CHANNELS = {"A": ("A1",), "AA": ("A1", "A2"), "B": ("V", "A1"), "A2/V": ("V", "A2"),
             "AA/V": ("V", "A1", "A2")}  # as OpenTimelineIO's reader maps them


def _why_odd(event_lines: list[str], rate: float, ends: dict[str, int]) -> str | None:
    """Why OpenTimelineIO's reader would refuse this event (None when it would not); the
    record end of its tracks is noted when it is kept."""
    timed = [(found, [_frames(found.group(n), rate) for n in (3, 4, 5, 6)])
             for found in map(_EVENT.match, event_lines) if found]
    if not timed or any(None in frames for _found, frames in timed):
        return None  # not ours to judge: the reader says what is wrong
    excused = any(_EXCUSED.match(line) for line in event_lines)
    for _found, frames in timed:
        src_in, src_out, rec_in, rec_out = (f or 0 for f in frames)
        if not excused and src_out - src_in != rec_out - rec_in:
            return (f"its source lasts {src_out - src_in} frames but its record "
                    f"{rec_out - rec_in}, with no speed change (M2) to say why; fix the "
                    "event in the editor and export again")
    first, last = timed[0], timed[-1]
    channel = last[0].group(2).split()
    code = channel[1] if len(channel) > 1 else "V"
    tracks = _CHANNELS.get(code, (code,))
    record_in = first[1][2] or 0
    record_out = last[1][3] or 0
    if any(record_in < ends.get(track, record_in) for track in tracks):
        return ("it starts before the event ahead of it on the same track ends (the "
                "records overlap); fix the event in the editor and export again")
    for track in tracks:
        ends[track] = record_out
    return None


def _frames(timecode: str, rate: float) -> int | None:
    try:
        frames: float = otio.opentime.from_timecode(timecode.replace(".", ":"), rate).value
        return round(frames)
    except (ValueError, RuntimeError):
        return None


# --------------------------------------------------------------------------- writing


def edl_header(text: str) -> tuple[str, bool | None]:
    """The EDL's title and whether it says drop frame (None when it does not say)."""
    title = ""
    drop: bool | None = None
    for line in text.splitlines()[:20]:
        stripped = line.strip()
        if stripped.startswith("TITLE:"):
            title = stripped[len("TITLE:"):].strip()
        elif stripped.startswith("FCM:"):
            drop = "NON" not in stripped.upper()
    return title, drop


def result_edls(results: Iterable[ResultClip], *, title: str, start: int,
                drop_frame: bool) -> list[tuple[str, str]]:
    """(track name, EDL text) for each new picture track: its clips at their record
    timecodes (``start`` is the timeline's first frame), sources at the files' own
    timecodes; B-roll with sound as picture and two sound channels (``AA/V``)."""
    checked = check_results(results)
    if not checked:
        return []
    rate = exact_rate(checked[0].clip.timeline_rate)
    drop = drop_frame and is_drop_frame_rate(rate)
    return [(track.name, _edl(track, title, start, rate, drop))
            for track in plan_tracks(checked) if track.kind == "Video"]


def _edl(track: PlannedTrack, title: str, start: int, rate: Fraction,
         drop_frame: bool) -> str:
    lines = [f"TITLE: {(title + ' - ' if title else '') + track.name}",
             f"FCM: {'DROP FRAME' if drop_frame else 'NON-DROP FRAME'}", ""]
    for number, placed in enumerate(track.items, 1):
        result = placed.result
        src_in = in_timeline_frames(source_in(result), result)
        src_in_frames = round(src_in)
        channel = "AA/V" if result.kind != "restyle" and result.has_audio else "V"
        record = start + placed.start
        lines.append(f"{number:03d}  AX       {channel:<5} C        "
                     f"{_tc(src_in_frames, rate, drop_frame)} "
                     f"{_tc(src_in_frames + placed.length, rate, drop_frame)} "
                     f"{_tc(record, rate, drop_frame)} "
                     f"{_tc(record + placed.length, rate, drop_frame)}")
        name = (f"{result.clip.name} [{result.track_label}]" if result.kind == "restyle"
                else result.clip.name or "B-roll")
        lines.append(f"* FROM CLIP NAME:  {name}")
        lines.append(f"* FROM CLIP: {result.path}")
        lines.append(f"* {EDL_NOTE}{result.note}")
        lines.append(f"* {EDL_RECORD}{provenance.record_line(result.provenance())}")
        lines.append("")
    return "\n".join(lines)


def _tc(frames: int, rate: Fraction, drop_frame: bool) -> str:
    time = otio.opentime.RationalTime(frames, float(rate))
    return str(otio.opentime.to_timecode(time, float(rate), drop_frame))
