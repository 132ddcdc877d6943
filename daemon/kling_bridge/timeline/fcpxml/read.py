"""FCPXML (1.8 to 1.14, files and ``.fcpxmld`` bundles) -> the OTIO timeline the selection
logic reads.

The shape, built from :mod:`.layout`:

- one OTIO track per lane: lane 0 (the primary storyline) is ``"Primary storyline"``, lanes
  above and below ``"Lane N"``; where clips connected to different parents overlap in one
  lane, the later ones go to ``"Lane N (2)"``...; audio-only elements go to audio tracks
  (``"Lane -1 audio"``);
- a clip's source range is its media's time at the *timeline's* rate (so every track adds
  up to the frame, whatever the media's rate) and its media reference's available range is
  the asset's start and duration at the *media's* rate (so selection counts source frames in
  the file's own frames);
- timeline start = the sequence's ``tcStart``; ``metadata["kling_bridge"]["drop_frame"]``
  from ``tcFormat``;
- every item carries ``metadata["kling_bridge"]["clip_id"] = "fcpxml:<element index>"``:
  the element in the editor's document it was read from (the result splicer and error
  messages find it by that), and ``metadata["fcpxml"]`` with the tag, lane, roles,
  keywords and note; a reason the reader found why it cannot be restyled as it stands
  (retimed, a multicam angle cut inside it...) is ``metadata["kling_bridge"]
  ["cannot_restyle"]``; a clip Final Cut plays frame for frame at a 1001/1000 speed
  (Automatic Speed, see :mod:`.layout`) has a ``LinearTimeWarp`` of that speed and
  ``metadata["kling_bridge"]["frame_for_frame"] = True``: its source range starts in its
  media's time and lasts its record length, one media frame per record frame;
- DaVinci Resolve writes one asset per clip, covering only the clip's range of the file
  (start and duration exactly the clip's, no ``uid``): such an asset says nothing of where
  the file starts, so the clip gets ``metadata["kling_bridge"]["media_start_unknown"] =
  True`` and selection asks the file, as for an EDL (taking the asset's start for the
  file's restyled the file's first frames for every clip of a Resolve export);
- markers (``marker``, ``chapter-marker``) on their clip in the clip's source time; markers
  on gaps become track markers at their record time (selection reads ``kling:`` prompts from
  both); compound clips (``ref-clip``) are nested stacks.

Clips the bridge added to a file before (``<metadata><md key="kling_bridge.*">``) come
back with that record as ``metadata["kling_bridge"]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from typing import Any

import opentimelineio as otio

from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.fcpxml.document import Document, Node, parse, time_attr
from kling_bridge.timeline.fcpxml.layout import MARKERS, Item, Layout, lay_out, project_sequences
from kling_bridge.timeline.gc_pause import no_gc

KEY = "kling_bridge"
MD_PREFIX = "kling_bridge."
_COLOURS = {"marker": "BLUE", "chapter-marker": "ORANGE", "to-do": "RED", "done": "GREEN"}


@dataclass
class FcpxmlRead:
    """What :func:`read_fcpxml` found: the timeline, what it assumed, and the parsed
    document and layout (the splicer reuses them)."""

    timeline: otio.schema.Timeline
    document: Document
    layout: Layout
    project: Node
    notes: list[str] = field(default_factory=list)


def read_fcpxml(text: str | bytes, *, base: str | None = None,
                name: str | None = None) -> FcpxmlRead:
    """Read FCPXML text; ``base`` is the folder relative media paths count from (the
    timeline file's, or the ``.fcpxmld`` bundle's), ``name`` names it in errors."""
    with no_gc():
        return _read(text, base, name)


def read_fcpxml_timeline(text: str | bytes, *, base: str | None = None,
                         name: str | None = None) -> tuple[otio.schema.Timeline, list[str]]:
    """The timeline and notes of :func:`read_fcpxml` alone. The document's tree and layout
    are freed before the garbage collector runs again: kept alive past :func:`no_gc`, the
    first collection after it would scan every one of their objects (~18 ms on 5,000
    clips) only to find them in use."""
    with no_gc():
        return _timeline_only(text, base, name)


def _timeline_only(text: str | bytes, base: str | None,
                   name: str | None) -> tuple[otio.schema.Timeline, list[str]]:
    read = _read(text, base, name)
    return read.timeline, read.notes


def _read(text: str | bytes, base: str | None, name: str | None) -> FcpxmlRead:
    doc = parse(text, name=name)
    projects = project_sequences(doc)
    if not projects:
        raise TimelineError(
            "the file holds no project (timeline), only events or clips", path=name,
            hint="in Final Cut select the project itself and choose File > Export XML")
    project, sequence = projects[0]
    notes = []
    if len(projects) > 1:
        others = ", ".join(repr(p.get("name", "")) for p, _ in projects[1:])
        notes.append(f"file holds {len(projects)} projects; using {project.get('name', '')!r}"
                     f" (others: {others})")
    layout = lay_out(doc, sequence, base=base)
    timeline = _Builder(doc, layout.rate).timeline(project, layout)
    notes.extend(layout.notes)
    return FcpxmlRead(timeline, doc, layout, project, notes)


def clip_id(node: Node) -> str:
    """The id selection gives an element's clip: its place in the document."""
    return f"fcpxml:{node.index}"


def element_index(clip_id: str) -> int | None:
    """``"fcpxml:57"`` -> 57 (None for ids that are not the reader's)."""
    prefix, _, number = clip_id.partition(":")
    return int(number) if prefix == "fcpxml" and number.isdecimal() else None


Json = dict[str, Any]


class _Builder:
    """Writes the timeline as OTIO JSON (plain dicts) and loads it in one go: OTIO objects
    built one Python call at a time cost several times more (each metadata dictionary is
    converted key by key in Python)."""

    def __init__(self, doc: Document, rate: Fraction) -> None:
        self.doc = doc
        self.rate = rate
        self.frate = float(rate)
        self.available: dict[int, tuple[int | float, int | float, float]] = {}

    def rt(self, seconds: Fraction) -> Json:
        """Seconds as frames at the timeline rate (integer arithmetic: Fraction's own
        operators normalise every step and cost most of a large timeline's read)."""
        num = seconds.numerator * self.rate.numerator
        den = seconds.denominator * self.rate.denominator
        whole, rest = divmod(num, den)
        return _rt(whole if not rest else num / den, self.frate)

    def timeline(self, project: Node, layout: Layout) -> otio.schema.Timeline:
        meta: dict[str, Any] = {}
        if layout.drop_frame is not None:
            meta["drop_frame"] = layout.drop_frame
        event = project.parent if project.parent is not None and project.parent.tag == "event" \
            else None
        document = {
            "OTIO_SCHEMA": "Timeline.1", "name": project.get("name") or "FCPXML project",
            "global_start_time": self.rt(layout.tc_start),
            "metadata": {KEY: meta, "fcpxml": {
                "version": self.doc.root.get("version", ""), "project": project.get("name", ""),
                "event": event.get("name", "") if event is not None else "",
                "sequence": layout.sequence.index}},
            "tracks": {"OTIO_SCHEMA": "Stack.1", "name": "tracks", "metadata": {},
                       "children": self.tracks(layout)}}
        loaded: otio.schema.Timeline = otio.adapters.otio_json.read_from_string(
            json.dumps(document, check_circular=False))  # plain data: no cycles to look for
        return loaded

    # ------------------------------------------------------------------ tracks

    def tracks(self, layout: Layout) -> list[Json]:
        """Items packed into tracks by lane, each track filled with gaps to the frame."""
        placed: dict[tuple[str, int], list[tuple[int, int, Item]]] = {}
        transitions: list[Item] = []
        gap_markers: dict[int, list[Item]] = {}
        for item in layout.items:
            if item.kind == "transition":
                transitions.append(item)
                continue
            if item.kind == "gap":
                if any(c.tag in MARKERS for c in item.node.children):
                    gap_markers.setdefault(item.lane, []).append(item)
                continue
            begin, length = self.frames(item.start), self.frames(item.duration)
            if length <= 0:
                layout.notes.append(f"{item.node.get('name') or item.node.tag!r}: zero length, "
                                    "left out")
                continue
            audio = item.kind == "audio" or item.node.get("srcEnable") == "audio"
            key = ("audio" if audio else "video", item.lane)
            placed.setdefault(key, []).append((begin, length, item))
        lanes: dict[tuple[str, int], list[list[tuple[int, int, Item]]]] = {}
        for key, entries in placed.items():
            entries.sort(key=lambda entry: (entry[0], entry[2].node.index))
            subs: list[list[tuple[int, int, Item]]] = []
            for entry in entries:  # clips hung from different parents may overlap in a lane
                sub = next((s for s in subs if s[-1][0] + s[-1][1] <= entry[0]), None)
                if sub is None:
                    subs.append([entry])
                else:
                    sub.append(entry)
            lanes[key] = subs
        lanes.setdefault(("video", 0), [[]])
        ordered = sorted(lanes, key=lambda k: (k[0] == "audio", -k[1] if k[0] == "audio"
                                               else k[1]))
        result = []
        for kind, lane in ordered:
            for number, sub in enumerate(lanes[(kind, lane)], 1):
                track = self.track(kind, lane, number, sub)
                if number == 1 and kind == "video":
                    self.add_transitions(track, sub, [t for t in transitions if t.lane == lane])
                    for gap in gap_markers.get(lane, []):
                        track["markers"].extend(self.markers(gap.node, gap.start - gap.local))
                result.append(track)
        return result

    def frames(self, seconds: Fraction) -> int:
        num = seconds.numerator * self.rate.numerator
        den = seconds.denominator * self.rate.denominator
        whole, rest = divmod(num, den)
        return whole + (2 * rest > den or (2 * rest == den and whole % 2 == 1))

    def track(self, kind: str, lane: int, number: int,
              entries: list[tuple[int, int, Item]]) -> Json:
        name = "Primary storyline" if lane == 0 else f"Lane {lane}"
        if kind == "audio":
            name += " audio"
        if number > 1:
            name += f" ({number})"
        children: list[Json] = []
        position = 0
        for begin, length, item in entries:
            if begin > position:
                children.append({"OTIO_SCHEMA": "Gap.1", "name": "", "metadata": {},
                                 "source_range": _tr(0, begin - position, self.frate)})
            elif begin < position:  # a negative record start (before tcStart)
                continue
            children.append(self.item(item, length))
            position = begin + length
        return {"OTIO_SCHEMA": "Track.1", "name": name,
                "kind": "Audio" if kind == "audio" else "Video",
                "metadata": {"fcpxml": {"lane": lane}}, "markers": [], "children": children}

    def add_transitions(self, track: Json, entries: list[tuple[int, int, Item]],
                        transitions: list[Item]) -> None:
        """FCPXML transitions straddle a cut between two clips: OTIO's sit between them."""
        cuts = {}
        for (b1, l1, _a), (b2, _l2, after) in pairwise(entries):
            if b1 + l1 == b2:
                cuts[b2] = clip_id(after.node)
        if not cuts:
            return
        inserts: dict[str, Json] = {}
        for transition in transitions:
            begin = self.frames(transition.start)
            end = begin + self.frames(transition.duration)
            cut = next((c for c in cuts if begin <= c <= end), None)
            if cut is not None:
                inserts[cuts[cut]] = {
                    "OTIO_SCHEMA": "Transition.1", "name": transition.node.get("name", ""),
                    "transition_type": "SMPTE_Dissolve",
                    "in_offset": _rt(cut - begin, self.frate),
                    "out_offset": _rt(end - cut, self.frate),
                    "metadata": {KEY: {"clip_id": clip_id(transition.node)}}}
        children = []
        for child in track["children"]:
            ident = child["metadata"].get(KEY, {}).get("clip_id")
            if ident in inserts:
                children.append(inserts.pop(ident))
            children.append(child)
        track["children"] = children

    # ------------------------------------------------------------------ items

    def item(self, item: Item, length: int) -> Json:
        node = item.node
        name = node.get("name") or (item.media.asset.get("name", "") if item.media else "")
        meta: dict[str, Any] = {"clip_id": clip_id(node)}
        if item.reason and item.kind not in ("generator", "compound") and item.enabled:
            meta["cannot_restyle"] = item.reason
        if item.conformed:  # its retime is Automatic Speed, frame for frame (see .layout)
            meta["frame_for_frame"] = True
        if item.media is not None and _only_the_clips_range(item):
            meta["media_start_unknown"] = True
        meta.update(_provenance(node))
        fcp: dict[str, Any] = {"tag": node.tag, "lane": item.lane}
        fcp.update(_annotations(node))
        if item.media is not None:
            fcp["asset"] = item.media.asset.get("id", "")
        metadata = {KEY: meta, "fcpxml": fcp}
        delta = item.media_delta
        if item.kind == "compound":
            inner = item.inner
            delta = -inner.tc_start if inner is not None else Fraction(0)
            composable: Json = {
                "OTIO_SCHEMA": "Stack.1", "name": name, "metadata": metadata,
                "source_range": {"OTIO_SCHEMA": "TimeRange.1",
                                 "start_time": self.rt(item.local + delta),
                                 "duration": _rt(length, self.frate)},
                "children": _Builder(self.doc, inner.rate).tracks(inner) if inner else []}
        else:
            first = item.local + item.media_delta if item.media_delta else item.local
            if item.media is not None and item.media.rate == self.rate:
                start = _rt(self.frames(first), self.frate)  # on the frame, as FCP plays
            else:
                start = self.rt(first)
            composable = {
                "OTIO_SCHEMA": "Clip.2", "name": name, "metadata": metadata,
                "source_range": {"OTIO_SCHEMA": "TimeRange.1", "start_time": start,
                                 "duration": _rt(length, self.frate)},
                "media_references": {"DEFAULT_MEDIA": self.reference(item)},
                "active_media_reference_key": "DEFAULT_MEDIA"}
            if item.retime not in (None, 1):
                composable["effects"] = [{"OTIO_SCHEMA": "LinearTimeWarp.1", "name": "retime",
                                          "effect_name": "LinearTimeWarp", "metadata": {},
                                          "time_scalar": float(item.retime or 1)}]
        composable["enabled"] = item.enabled
        composable["markers"] = self.markers(node, delta)
        return composable

    def reference(self, item: Item) -> Json:
        if item.kind == "generator":
            return {"OTIO_SCHEMA": "GeneratorReference.1", "name": item.generator,
                    "generator_kind": item.generator, "parameters": {}, "metadata": {}}
        media = item.media
        if media is None or not media.url:
            return {"OTIO_SCHEMA": "MissingReference.1", "metadata": {},
                    "name": media.asset.get("name", "") if media else ""}
        asset = media.asset
        if asset.index not in self.available:  # clips share their camera files
            rate = float(media.rate)
            start = time_attr(asset, "start") * media.rate
            duration = time_attr(asset, "duration") * media.rate
            self.available[asset.index] = (_number(start), _number(duration), rate)
        start_frames, duration_frames, rate = self.available[asset.index]
        return {"OTIO_SCHEMA": "ExternalReference.1", "name": "", "metadata": {},
                "target_url": media.url, "available_range": _tr(start_frames, duration_frames,
                                                                rate)}

    def markers(self, node: Node, delta: Fraction) -> list[Json]:
        """``node``'s own markers, in its source time (its local time + ``delta``)."""
        found = []
        for child in node.children:
            if child.tag not in MARKERS:
                continue
            kind = child.tag
            if kind == "marker" and "completed" in child.attrs:
                kind = "done" if child.attrs["completed"] == "1" else "to-do"
            found.append({
                "OTIO_SCHEMA": "Marker.2", "name": child.attrs.get("value", ""),
                "marked_range": {"OTIO_SCHEMA": "TimeRange.1",
                                 "start_time": self.rt(time_attr(child, "start") + delta
                                                       if delta else time_attr(child, "start")),
                                 "duration": self.rt(time_attr(child, "duration"))},
                "color": _COLOURS[kind], "comment": child.attrs.get("note", ""),
                "metadata": {"fcpxml": {"kind": kind}}})
        return found


def _rt(value: int | float, rate: float) -> Json:
    return {"OTIO_SCHEMA": "RationalTime.1", "rate": rate, "value": value}


def _tr(start: int | float, duration: int | float, rate: float) -> Json:
    return {"OTIO_SCHEMA": "TimeRange.1", "start_time": _rt(start, rate),
            "duration": _rt(duration, rate)}


def _number(value: Fraction) -> int | float:
    return value.numerator if value.denominator == 1 else float(value)


def _only_the_clips_range(item: Item) -> bool:
    """Whether the clip's asset is one of Resolve's per-clip assets: no ``uid`` (Final Cut
    gives every asset its media's uid, and its asset is the whole file) and exactly the
    clip's start and duration in the media's clock."""
    assert item.media is not None
    asset = item.media.asset
    if "uid" in asset.attrs or "start" not in asset.attrs or "duration" not in asset.attrs:
        return False
    return (time_attr(asset, "start") == item.local + item.media_delta
            and time_attr(asset, "duration") == item.duration)


def _annotations(node: Node) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for attr in ("audioRole", "videoRole", "ref", "role"):
        if attr in node.attrs:
            found[attr] = node.attrs[attr]
    keywords = [k.get("value", "") for k in node.all("keyword")]
    if keywords:
        found["keywords"] = keywords
    note = node.first("note")
    if note is not None and note.text.strip():
        found["note"] = note.text.strip()
    return found


_TYPES = {"variant": int, "cost": float, "draft": lambda v: v == "true"}


def _provenance(node: Node) -> dict[str, Any]:
    """The bridge's record on a clip it added (``<md key="kling_bridge.job_id" .../>``)."""
    metadata = node.first("metadata")
    if metadata is None:
        return {}
    found: dict[str, Any] = {}
    for md in metadata.all("md"):
        key = md.attrs.get("key", "")
        if not key.startswith(MD_PREFIX):
            continue
        field_name = key[len(MD_PREFIX):]
        value = md.attrs.get("value", "")
        convert: Any = _TYPES.get(field_name)
        try:
            found[field_name] = convert(value) if convert and value else value
        except ValueError:
            found[field_name] = value
    return found
