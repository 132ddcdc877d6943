"""Where every story element of an FCPXML project plays, in exact seconds (pure).

FCPXML does not list tracks; it nests. The rules this module applies, once, for both the
reader and the result splicer:

- the primary storyline (the sequence's ``<spine>``) counts from the sequence's ``tcStart``:
  an element at ``offset`` plays ``offset - tcStart`` into the timeline;
- an anchored element (``lane`` != 0: a connected clip, or a connected storyline
  ``<spine lane="N">``) is a child of the element it hangs from and its ``offset`` is in that
  parent's *local* time, which starts at the parent's ``start``: it plays
  ``record(parent) + offset - start(parent)`` in; the children of a connected storyline are
  placed the same way inside it (a storyline's local time starts at 0);
- an ``<audition>`` plays its first child (the active pick); the others are alternatives;
- a ``<transition>`` overlaps the elements on either side and moves nothing;
- what an element shows comes from its media: an ``asset-clip``'s local time *is* its
  asset's time; a ``clip``/``sync-clip`` shows its contained (lane 0) item, a ``mc-clip`` the
  active video angle of its multicam, mapped through their offsets and starts; a
  ``ref-clip`` is a compound clip (its own sequence in ``<resources>``), a ``title`` or an
  effect ``video`` a generator.

Each placed element carries why it cannot be restyled as it stands, when it cannot
(retimed by a ``timeMap`` or a speed-changing ``conform-rate``, disabled, a generator, a
compound, a multicam or sync clip whose picture changes source inside it, offline), so one
odd element never stops the rest of the file. The records it fills in, and the speed rules
(which Automatic Speed changes still play frame for frame), are in :mod:`.timing`.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from urllib.parse import unquote

from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.fcpxml.document import (
    Document,
    Node,
    describe,
    frame_rate,
    time_attr,
)
from kling_bridge.timeline.fcpxml.timing import FRAME_FOR_FRAME as FRAME_FOR_FRAME
from kling_bridge.timeline.fcpxml.timing import Item as Item
from kling_bridge.timeline.fcpxml.timing import Layout as Layout
from kling_bridge.timeline.fcpxml.timing import Media as Media
from kling_bridge.timeline.fcpxml.timing import timing_reason
from kling_bridge.timeline.paths import url_from_path

#: Elements that play in a storyline (the DTD's ``clip_item``).
CLIP_ITEMS = frozenset({"audio", "video", "clip", "title", "mc-clip", "ref-clip", "sync-clip",
                        "asset-clip", "audition", "gap", "live-drawing", "caption"})
#: Elements that can hang from another one with a ``lane`` (the DTD's ``anchor_item``).
ANCHOR_ITEMS = frozenset({"audio", "video", "clip", "title", "caption", "mc-clip", "ref-clip",
                          "sync-clip", "asset-clip", "audition", "spine", "live-drawing"})
MARKERS = frozenset({"marker", "chapter-marker"})
_MAX_NESTING = 16  # compound clips inside compound clips


def project_sequences(doc: Document) -> list[tuple[Node, Node]]:
    """(project, sequence) pairs in document order (library/event/project, bare events and
    bare projects, as each FCPXML version allows)."""
    found = []
    for node in doc.root.iter():
        if node.tag == "project":
            sequence = node.first("sequence")
            if sequence is not None:
                found.append((node, sequence))
    return found


def lay_out(doc: Document, sequence: Node, *, base: str | None = None) -> Layout:
    """The layout of ``sequence`` (see the module doc); ``base`` is the folder that
    relative media paths count from (the timeline file's folder)."""
    return _Walker(doc, base).sequence(sequence, depth=0)


class _Walker:
    def __init__(self, doc: Document, base: str | None) -> None:
        self.doc = doc
        self.base = base
        self._urls: dict[int, str | None] = {}
        self._compounds: dict[int, Layout] = {}

    # ------------------------------------------------------------------ storylines

    def sequence(self, sequence: Node, depth: int) -> Layout:
        fmt = self.doc.resource(sequence.get("format"))
        rate = frame_rate(fmt)
        if rate is None or not 1 <= rate <= 1000:
            what = "no frame rate" if rate is None else f"a frame rate of {float(rate):g} fps"
            raise TimelineError(f"the sequence's format has {what} (frameDuration)",
                                item=describe(sequence.parent or sequence),
                                hint="export the project again from Final Cut Pro or Resolve")
        tc_format = sequence.get("tcFormat") or (fmt.get("tcFormat") if fmt else None)
        layout = Layout(sequence, rate, time_attr(sequence, "tcStart"),
                        None if tc_format is None else tc_format == "DF")
        self.layout = layout
        self.depth = depth
        spine = sequence.first("spine")
        if spine is not None:
            self._spine(layout, spine, layout.tc_start, Fraction(0), 0, None, None)
        return layout

    def _spine(self, layout: Layout, spine: Node, local0: Fraction, rec0: Fraction, lane: int,
               anchor: Item | None, storyline: Node | None) -> None:
        """The elements of a storyline whose local time ``local0`` plays at record ``rec0``."""
        for child in spine.children:
            tag = child.tag
            if tag == "transition":
                start = rec0 + time_attr(child, "offset") - local0
                layout.items.append(Item(child, lane, start, time_attr(child, "duration"),
                                         anchor.anchor if anchor else child,
                                         anchor.origin if anchor else (start, start), start,
                                         "transition", storyline=storyline))
            elif tag in CLIP_ITEMS:
                self._element(layout, child, rec0 + time_attr(child, "offset") - local0, lane,
                              anchor, storyline)

    def _element(self, layout: Layout, node: Node, record: Fraction, lane: int,
                 anchor: Item | None, storyline: Node | None) -> None:
        pick = _active_pick(node) if node.tag == "audition" else node
        if pick is None:
            return
        local = time_attr(pick, "start")
        item = Item(pick, lane, record, self._duration(pick), pick, (record, local), local,
                    "empty", storyline=storyline, enabled=_enabled(node) and _enabled(pick))
        if anchor is not None:
            item.anchor, item.origin = anchor.anchor, anchor.origin
        self._describe(item)
        layout.items.append(item)
        owner = item if anchor is None else anchor
        for child in pick.children:
            if child.tag not in ANCHOR_ITEMS:
                continue
            child_lane = _lane(child)
            if child_lane == 0:
                continue
            if lane:
                child_lane += lane
            at = record + time_attr(child, "offset") - local
            if child.tag == "spine":
                self._spine(layout, child, Fraction(0), at, child_lane, owner, child)
            else:
                self._element(layout, child, at, child_lane, owner, None)

    def _duration(self, node: Node) -> Fraction:
        if "duration" in node.attrs:
            return time_attr(node, "duration")
        asset = self.doc.resource(node.get("ref"))
        if asset is not None and "duration" in asset.attrs:  # asset-clip: the whole asset
            return time_attr(asset, "duration") - (time_attr(node, "start")
                                                   - time_attr(asset, "start"))
        return Fraction(0)

    # ------------------------------------------------------------------ what it shows

    def _describe(self, item: Item) -> None:
        node = item.node
        reason = timing_reason(node, self.layout.rate, item)
        if node.tag == "gap":
            item.kind = "gap"
            return
        if node.tag == "ref-clip":
            item.kind = "compound"
            item.inner = self._compound(node)
            return
        kind, media, why, delta = self._media(node, item.local, item.duration, 0)
        item.kind, item.media, item.media_delta = kind, media, delta
        if kind == "generator":
            item.generator = why or node.tag
            return
        if not item.enabled:
            item.reason = "disabled in the timeline"
        elif reason:
            item.reason = reason
        elif why:
            item.reason = why

    def _media(self, node: Node, local: Fraction, duration: Fraction,
               depth: int) -> tuple[str, Media | None, str | None, Fraction]:
        """(kind, media, reason or generator name, local->media delta) for what ``node``
        shows over ``[local, local + duration)`` of its local time."""
        tag = node.tag
        if depth > _MAX_NESTING:
            return "empty", None, "nested too deeply to follow", Fraction(0)
        if tag in ("asset-clip", "video", "audio"):
            target = self.doc.resource(node.get("ref"))
            if target is None:
                return "empty", None, f"refers to a missing resource {node.get('ref')!r}", \
                    Fraction(0)
            if target.tag == "effect":
                return "generator", None, target.get("name") or "generator", Fraction(0)
            if target.tag != "asset":
                return "empty", None, f"<{tag}> refers to a <{target.tag}>", Fraction(0)
            media = self._asset_media(target, local)
            video = media.has_video and tag != "audio" and node.get("srcEnable") != "audio"
            kind = "video" if video else "audio"
            why = None if media.url else ("offline: the editor exported no media path for it; "
                                          "relink it in Final Cut and export again")
            return kind, media, why, Fraction(0)
        if tag in ("title", "live-drawing", "caption"):
            target = self.doc.resource(node.get("ref"))
            name = (target.get("name") if target is not None else None) or tag
            return "generator", None, name, Fraction(0)
        if tag == "audition":
            pick = _active_pick(node)
            if pick is None:
                return "empty", None, "an empty audition", Fraction(0)
            return self._media(pick, local, duration, depth + 1)
        if tag in ("clip", "sync-clip"):
            return self._contained(node, local, duration, depth)
        if tag == "mc-clip":
            return self._multicam(node, local, duration, depth)
        if tag == "ref-clip":
            return "compound", None, None, Fraction(0)
        return "empty", None, f"<{tag}> has no picture", Fraction(0)

    def _contained(self, node: Node, local: Fraction, duration: Fraction,
                   depth: int) -> tuple[str, Media | None, str | None, Fraction]:
        """A clip or sync clip shows its lane-0 content covering the range."""
        contents = [c for c in node.children if (c.tag in CLIP_ITEMS or c.tag == "spine")
                    and _lane(c) == 0]
        if any(c.tag == "spine" for c in contents):
            return "compound", None, None, Fraction(0)
        return self._covering(contents, local, duration, depth,
                              f"the {node.tag} does not show one file for its whole range: "
                              "blade it where its picture changes")

    def _multicam(self, node: Node, local: Fraction, duration: Fraction,
                  depth: int) -> tuple[str, Media | None, str | None, Fraction]:
        media = self.doc.resource(node.get("ref"))
        multicam = media.first("multicam") if media is not None else None
        if multicam is None:
            return "empty", None, "multicam clip without its multicam media", Fraction(0)
        sources = [s for s in node.all("mc-source") if s.get("srcEnable", "all") in
                   ("all", "video")]
        if not sources:
            return "audio", None, "multicam clip with no video angle", Fraction(0)
        angle_id = sources[0].get("angleID")
        angle = next((a for a in multicam.all("mc-angle") if a.get("angleID") == angle_id), None)
        if angle is None:
            return "empty", None, f"multicam angle {angle_id!r} is missing", Fraction(0)
        contents = [c for c in angle.children if c.tag in CLIP_ITEMS and _lane(c) == 0]
        label = angle.get("name") or angle_id
        return self._covering(contents, local, duration, depth,
                              f"the active angle ({label}) does not show one file for the "
                              "whole clip (a gap or a cut inside it): blade the multicam clip "
                              "where the angle changes")

    def _covering(self, contents: list[Node], local: Fraction, duration: Fraction, depth: int,
                  spanning: str) -> tuple[str, Media | None, str | None, Fraction]:
        end = local + duration
        slack = 1 / self.layout.rate  # media a frame short of its clip still covers it
        overlapping = []
        for child in contents:
            begin = time_attr(child, "offset")
            length = self._duration(child)
            if begin <= local and (end <= begin + length + slack or not length):
                return self._inside(child, time_attr(child, "start") + (local - begin), local,
                                    duration, depth)
            if begin < end - slack and begin + length > local + slack:
                overlapping.append((begin, child))
        if overlapping:  # refused, but named by the first file it shows (not "offline")
            for begin, child in overlapping:
                kind, media, _why, delta = self._inside(
                    child, time_attr(child, "start") + max(Fraction(0), local - begin), local,
                    duration, depth)
                if media is not None:
                    return kind, media, spanning, delta
            return "video", None, spanning, Fraction(0)
        if len(contents) == 1:
            # OpenTimelineIO's FCPXML writer puts the media at offset 0 and writes the clip's
            # start in the media's own time: read it the way it was written
            return self._inside(contents[0], local, local, duration, depth)
        return "empty", None, "no picture there", Fraction(0)

    def _inside(self, child: Node, inner_local: Fraction, local: Fraction, duration: Fraction,
                depth: int) -> tuple[str, Media | None, str | None, Fraction]:
        """What the contained ``child`` shows from its local time ``inner_local`` on (the
        container's ``local``), with the container-local -> media delta."""
        if child.tag == "gap":
            kind, media, why, delta = self._under_gap(child, inner_local, duration, depth)
            return kind, media, why, inner_local - local + delta
        why = timing_reason(child, self.layout.rate, None)
        kind, media, inner_why, delta = self._media(child, inner_local, duration, depth + 1)
        outer = inner_local - local + delta
        if why and kind != "generator":
            return kind, media, why, outer
        return kind, media, inner_why, outer

    def _under_gap(self, gap: Node, local: Fraction, duration: Fraction,
                   depth: int) -> tuple[str, Media | None, str | None, Fraction]:
        """A clip whose content is a gap shows nothing, but may carry sound hung from the gap
        (how audio-only clips come out of some writers): it is then an audio element."""
        for child in gap.children:
            if child.tag in ANCHOR_ITEMS and child.tag != "spine" and _lane(child):
                inner = time_attr(child, "start") + (local - time_attr(child, "offset"))
                kind, media, why, delta = self._media(child, inner, duration, depth + 1)
                if kind in ("audio", "video"):
                    return "audio", media, why, inner - local + delta
        return "empty", None, "no picture there (a gap)", Fraction(0)

    def _asset_media(self, asset: Node, local: Fraction) -> Media:
        rate = frame_rate(self.doc.resource(asset.get("format")))
        if rate is None or not 1 <= rate <= 1000:  # stills, sound: the sequence's rate
            rate = self.layout.rate
        return Media(asset, self._url(asset), local, rate, asset.get("hasVideo") == "1",
                     asset.get("hasAudio") == "1")

    def _url(self, asset: Node) -> str | None:
        if asset.index not in self._urls:
            self._urls[asset.index] = _resolve_src(_src(asset), self.base)
        return self._urls[asset.index]

    def _compound(self, node: Node) -> Layout | None:
        media = self.doc.resource(node.get("ref"))
        sequence = media.first("sequence") if media is not None else None
        if sequence is None or self.depth >= _MAX_NESTING:
            return None
        if sequence.index not in self._compounds:
            walker = _Walker(self.doc, self.base)
            walker._urls = self._urls
            walker._compounds = self._compounds
            self._compounds[sequence.index] = walker.sequence(sequence, self.depth + 1)
        return self._compounds[sequence.index]


# --------------------------------------------------------------------------- helpers


def _active_pick(audition: Node) -> Node | None:
    """An audition plays its first story child; the rest are the alternatives."""
    for child in audition.children:
        if child.tag in CLIP_ITEMS:
            return child
    return None


def _lane(node: Node) -> int:
    value = node.attrs.get("lane")
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        raise TimelineError(f"lane={value!r} is not a number", item=describe(node)) from None


def _enabled(node: Node) -> bool:
    return node.attrs.get("enabled", "1") != "0"


def _src(asset: Node) -> str | None:
    """The asset's file: ``media-rep kind="original-media"`` (1.9+), else a proxy, else the
    asset's own ``src`` (1.8 and older)."""
    reps = asset.all("media-rep")
    for kind in ("original-media", "proxy-media"):
        for rep in reps:
            if rep.get("kind", "original-media") == kind and rep.get("src"):
                return rep.get("src")
    return asset.get("src") or None


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def _resolve_src(src: str | None, base: str | None) -> str | None:
    """A URL as it is; a relative path against ``base`` (the timeline file's folder)."""
    if not src:
        return None
    if (_SCHEME.match(src) and not _DRIVE.match(src)) or src.startswith(("/", "\\")) \
            or _DRIVE.match(src):
        return src
    if base is None:
        return src
    return url_from_path(os.path.normpath(os.path.join(base, unquote(src))))
