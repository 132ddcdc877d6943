"""Finished jobs -> new elements spliced into the editor's own FCPXML (pure: text in, text out).

Contract of :func:`splice_fcpxml` (the result-writing path calls it with the document the
editor submitted, unchanged, and the batch's results):

- **Nothing of the original changes.** The result is the input with new text inserted at
  computed byte offsets: every original element keeps its bytes -- attributes, their order
  and quoting, whitespace, children, comments -- and the ``version`` and DOCTYPE stay the
  input's, library and event wrappers included. The one unavoidable touch: an element
  written self-closing (``<asset-clip .../>``) that receives a connected clip has its ``/>``
  turned into ``>`` ... ``</asset-clip>``; its start tag stays byte for byte.
- **Restyles** (``kind == "restyle"``) become connected clips exactly over their sources: a
  child of the primary-storyline element the source plays on or hangs from (an audition's
  active pick), ``offset`` in that parent's local time, on a lane above every existing one
  -- one lane per look (``ResultClip.track_label``), a further lane only where two sources of
  one look overlap. The rendered file's frame 0 is the source's first frame minus
  ``handle_before``: the new ``<asset>`` starts at that frame's time on the source media's
  clock, so the new clip's ``start``/``duration`` are the source's own and it shows exactly
  the frames over its source. Its sound is off (``srcEnable="video"``): the source below
  keeps playing the original.
- **Generated B-roll** (any other kind) is connected at its placement
  (``ResultClip.clip.record_start``), trimmed to what was generated, on a lane above the
  looks, with its sound (``hasAudio``, role ``effects``) when it has some.
- New ``<asset>`` (with ``<media-rep kind="original-media">`` from FCPXML 1.9, ``src`` before)
  and ``<format>`` resources get ids no element of the document uses. ``ResultClip.path`` is
  linked as given (the caller passes the user's copy), percent-encoded.
- Each new clip carries a ``<note>`` a person can read ("Kling O3 · film-noir · draft · job
  j1a2b3c4…") and the full record as ``<metadata><md key="kling_bridge.<field>" .../>`` --
  which :mod:`.read` lifts back into ``metadata["kling_bridge"]``.

Results name their source by the clip id selection gave it (``"fcpxml:<element index>"``,
see :mod:`.read`); a result whose id is not the reader's is matched by record position and
name. A result that cannot be placed raises :class:`TimelineError` naming it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.fcpxml.document import (
    Document,
    Node,
    format_time,
    no_gc,
    parse,
    time_attr,
)
from kling_bridge.timeline.fcpxml.layout import Item, Layout, lay_out, project_sequences
from kling_bridge.timeline.fcpxml.read import MD_PREFIX, element_index
from kling_bridge.timeline.fcpxml.text import Edits, Style, element, escape
from kling_bridge.timeline.paths import url_from_path
from kling_bridge.timeline.rates import exact_rate
from kling_bridge.timeline.results import ResultClip

#: Children that come after anchored items in every story element (the DTD's order).
AFTER_ANCHORS = frozenset({"marker", "chapter-marker", "rating", "keyword", "analysis-marker",
                           "hidden-clip-marker", "audio-channel-source", "audio-role-source",
                           "filter-video", "filter-video-mask", "filter-audio", "metadata",
                           "sync-source", "reserved", "mute"})
MEDIA_REP_VERSION = (1, 9)
_MODELS = {"kling-3.0-omni": "Kling O3", "kling-3.0": "Kling 3.0"}


def splice_fcpxml(text: str, results: Sequence[ResultClip], *, name: str | None = None) -> str:
    """``text`` with ``results`` added as connected clips and resources (see module doc);
    ``name`` names the document in errors."""
    with no_gc():
        doc = parse(text, name=name)
        projects = project_sequences(doc)
        if not projects:
            raise TimelineError("the file holds no project (timeline) to put results in",
                                path=name, hint="write results into the project's own file")
        layout = lay_out(doc, projects[0][1])  # the project the reader read
        return _Splice(doc, layout, name).run(list(results))


@dataclass
class _Placed:
    """One new clip: the element it goes into (None: after the primary storyline), where
    and what it says."""

    anchor: Node | None
    lane: int
    offset: Fraction
    element: list[str]
    record: Fraction
    until: Fraction


class _Splice:
    def __init__(self, doc: Document, layout: Layout, name: str | None) -> None:
        self.doc = doc
        self.layout = layout
        self.name = name
        self.rate = layout.rate
        self.by_index = {i.node.index: i for i in layout.items if i.kind != "transition"}
        self.style = Style(doc)
        self.used_ids = set(doc.ids)
        self.resources: list[list[str]] = []
        self.formats: dict[tuple[Fraction, str | None, str | None], str] = {}
        self.media_rep = doc.version >= MEDIA_REP_VERSION
        self.primary = layout.primary
        self.primary_starts = [i.start for i in self.primary]
        self.end = max((i.start + i.duration for i in self.primary), default=Fraction(0))

    def run(self, results: list[ResultClip]) -> str:
        restyles = [r for r in results if r.kind == "restyle"]
        others = [r for r in results if r.kind != "restyle"]
        lane = max(self.layout.top_lane(), 0) + 1
        placed: list[_Placed] = []
        looks: dict[str, list[ResultClip]] = {}
        for result in restyles:
            looks.setdefault(result.track_label, []).append(result)
        for members in looks.values():
            spans = [(self._source(r), r) for r in members]
            lanes = _pack([(item.start, item.start + item.duration) for item, _r in spans])
            for (item, result), sub in zip(spans, lanes, strict=True):
                placed.append(self._restyle(item, result, lane + sub))
            lane += max(lanes, default=-1) + 1
        if others:
            spans_b = [self._placement(r) for r in others]
            lanes = _pack([(start, start + length) for start, length in spans_b])
            for result, (start, length), sub in zip(others, spans_b, lanes, strict=True):
                placed.append(self._broll(result, start, length, lane + sub))
        tail = [p for p in placed if p.anchor is None]
        if tail:
            placed = [p for p in placed if p.anchor is not None] + [self._tail(tail)]
        edits = Edits()
        self._insert_clips(edits, placed)
        self._insert_resources(edits)
        return edits.apply(self.doc.data).decode("utf-8", "surrogateescape")

    # ------------------------------------------------------------------ sources

    def _source(self, result: ResultClip) -> Item:
        index = element_index(result.clip.clip_id)
        item = self.by_index.get(index) if index is not None else None
        if item is None:  # an id from elsewhere: the video clip at that record position
            item = next((i for i in self.layout.items if i.kind == "video"
                         and self._frames(i.start) == result.clip.record_start
                         and self._frames(i.duration) == result.clip.record_duration
                         and (not result.clip.name or i.node.get("name") == result.clip.name)),
                        None)
        label = result.clip.name or result.job_id
        if item is None:
            raise TimelineError("its source clip is not in this document", path=self.name,
                                item=label, hint="write results into the document the batch "
                                "was made from")
        if item.media is None or item.kind != "video" or item.reason:
            raise TimelineError(f"its source cannot carry a restyle ({item.reason or item.kind})",
                                path=self.name, item=label)
        if abs(self._frames(item.start) - result.clip.record_start) > 1:
            raise TimelineError(
                f"its source plays at frame {self._frames(item.start)}, the result was made "
                f"for frame {result.clip.record_start}", path=self.name, item=label,
                hint="write results into the document the batch was made from")
        return item

    def _frames(self, seconds: Fraction) -> int:
        return round(seconds * self.rate)

    def _restyle(self, item: Item, result: ResultClip, lane: int) -> _Placed:
        media = item.media
        assert media is not None
        asset = media.asset
        asset_start = time_attr(asset, "start")
        media_rate = media.rate
        out_rate = exact_rate(result.rate) if result.rate else media_rate
        # the rendered file's frame 0 is the source's first frame (as selection counted it)
        # minus the handle: the new asset's clock then reads like the source media's, and
        # the new clip shows from the source's own start, sub-frame phase and all
        first = round((media.time - asset_start) * media_rate)
        shown = media.time
        new_start = asset_start + Fraction(first) / media_rate - Fraction(
            result.handle_before) / out_rate
        # what the source shows of its media: its duration, or as many media frames as it
        # lasts record frames when Final Cut plays it frame for frame (see .layout)
        span = item.duration * item.retime if item.conformed and item.retime else item.duration
        length = (Fraction(result.frames) / out_rate if result.frames
                  else shown - new_start + span)
        if shown + span > new_start + length + 1 / out_rate:
            raise TimelineError(
                f"the rendered file ({result.frames} frames) is shorter than its source",
                path=self.name, item=result.clip.name or result.job_id,
                hint="render the job again")
        source_format = asset.get("format")
        fmt = (source_format if out_rate == media_rate and source_format
               else self._format(out_rate, self.doc.resource(source_format)))
        asset_id = self._asset(result, new_start, length, fmt)
        offset = item.anchor_offset(item.start)
        attrs = [("ref", asset_id), ("lane", str(lane)), ("offset", format_time(offset)),
                 ("name", _clip_name(result)), ("start", format_time(shown)),
                 ("duration", format_time(item.duration))]
        if fmt != self.layout.sequence.get("format"):
            attrs.append(("format", fmt))
        if item.node.get("tcFormat"):
            attrs.append(("tcFormat", item.node.attrs["tcFormat"]))
        if result.has_audio:
            attrs.append(("srcEnable", "video"))  # the source below keeps its own sound
        timing = [_copy(self.doc, c) for c in _conforms(item)]
        clip = element("asset-clip", attrs, [_note(result), *timing, _metadata(result)])
        return _Placed(item.anchor, lane, offset, clip, item.start, item.start + item.duration)

    # ------------------------------------------------------------------ B-roll

    def _placement(self, result: ResultClip) -> tuple[Fraction, Fraction]:
        """(record start, length) in seconds: at the placement, trimmed to what was made."""
        ref = result.clip
        start = Fraction(ref.record_start) / self.rate
        wanted = ref.record_duration
        if result.frames and result.rate:
            made = round(Fraction(result.frames) / exact_rate(result.rate) * self.rate)
            wanted = max(1, min(wanted, made))
        if wanted <= 0 or start < 0:
            raise TimelineError("its placement has no length on the timeline", path=self.name,
                                item=ref.name or result.job_id)
        return start, Fraction(wanted) / self.rate

    def _broll(self, result: ResultClip, start: Fraction, length: Fraction,
               lane: int) -> _Placed:
        rate = exact_rate(result.rate) if result.rate else self.rate
        made = Fraction(result.frames) / rate if result.frames else length
        asset_id = self._asset(result, Fraction(0), made, self._format(rate, None))
        host = self._host(start)
        # past the end of the primary storyline it hangs from a gap added there (offset
        # from the end); elsewhere from the element playing at its placement
        offset = start - self.end if host is None else host.anchor_offset(start)
        attrs = [("ref", asset_id), ("lane", str(lane)), ("offset", format_time(offset)),
                 ("name", _clip_name(result)), ("start", "0s"), ("duration", format_time(length))]
        if result.has_audio:
            attrs.append(("audioRole", "effects"))
        clip = element("asset-clip", attrs, [_note(result), _metadata(result)])
        return _Placed(host.anchor if host else None, lane, offset, clip, start,
                       start + length)

    def _host(self, record: Fraction) -> Item | None:
        at = bisect_right(self.primary_starts, record) - 1
        if at >= 0:
            item = self.primary[at]
            if record < item.start + item.duration:
                return item
        return None

    def _tail(self, placed: list[_Placed]) -> _Placed:
        """One gap after the primary storyline holding the B-roll placed past its end."""
        spine = self.layout.sequence.first("spine")
        if spine is None:
            raise TimelineError("the project has no primary storyline to place B-roll on",
                                path=self.name, item="B-roll")
        placed.sort(key=lambda p: (p.lane, p.offset))
        gap = element("gap", [("name", "Gap"),
                               ("offset", format_time(self.layout.tc_start + self.end)),
                               ("duration", format_time(max(p.until for p in placed)
                                                        - self.end))],
                       [p.element for p in placed])
        return _Placed(spine, 0, self.end, gap, self.end, max(p.until for p in placed))

    # ------------------------------------------------------------------ resources

    def _new_id(self) -> str:
        number = len(self.used_ids) + 1
        while f"r{number}" in self.used_ids:
            number += 1
        self.used_ids.add(f"r{number}")
        return f"r{number}"

    def _format(self, rate: Fraction, like: Node | None) -> str:
        width = like.get("width") if like is not None else None
        height = like.get("height") if like is not None else None
        key = (rate, width, height)
        if key not in self.formats:
            self.formats[key] = self._new_id()
            attrs = [("id", self.formats[key]), ("frameDuration", format_time(1 / rate))]
            if width and height:
                attrs += [("width", width), ("height", height)]
            self.resources.append(element("format", attrs, []))
        return self.formats[key]

    def _asset(self, result: ResultClip, start: Fraction, duration: Fraction, fmt: str) -> str:
        asset_id = self._new_id()
        url = url_from_path(result.path)
        attrs = [("id", asset_id), ("name", _clip_name(result)), ("start", format_time(start)),
                 ("duration", format_time(duration)), ("hasVideo", "1"), ("format", fmt),
                 ("videoSources", "1")]
        if result.has_audio:
            attrs += [("hasAudio", "1"), ("audioSources", "1"), ("audioChannels", "2"),
                      ("audioRate", "48000")]
        children: list[list[str]] = []
        if self.media_rep:
            children.append(element("media-rep", [("kind", "original-media"), ("src", url)], []))
        else:
            attrs.append(("src", url))
        self.resources.append(element("asset", attrs, children))
        return asset_id

    # ------------------------------------------------------------------ text

    def _insert_clips(self, edits: Edits, placed: list[_Placed]) -> None:
        by_anchor: dict[int, tuple[Node, list[_Placed]]] = {}
        for item in placed:
            assert item.anchor is not None
            by_anchor.setdefault(item.anchor.index, (item.anchor, []))[1].append(item)
        for anchor, members in by_anchor.values():
            members.sort(key=lambda p: (p.lane, p.offset, p.record))
            before = next((c for c in anchor.children if c.tag in AFTER_ANCHORS), None)
            self.style.insert_children(edits, anchor, before, [m.element for m in members])

    def _insert_resources(self, edits: Edits) -> None:
        if not self.resources:
            return
        holder = self.doc.root.first("resources")
        if holder is not None:
            self.style.insert_children(edits, holder, None, self.resources)
            return
        block = element("resources", [], self.resources)
        self.style.insert_first(edits, self.doc.root, block)


def _pack(spans: list[tuple[Fraction, Fraction]]) -> list[int]:
    """A sub-lane per span so spans on one sub-lane never overlap (earliest first)."""
    order = sorted(range(len(spans)), key=lambda n: spans[n])
    ends: list[Fraction] = []
    lanes = [0] * len(spans)
    for n in order:
        begin, end = spans[n]
        lane = next((k for k, last in enumerate(ends) if last <= begin), None)
        if lane is None:
            ends.append(end)
            lane = len(ends) - 1
        else:
            ends[lane] = end
        lanes[n] = lane
    return lanes


def _conforms(item: Item) -> list[Node]:
    """The source's ``conform-rate`` applies to the restyle too: frame sampling (media at
    another rate played at normal speed), or Automatic Speed frame for frame (29.97 media
    in a 30p project: the restyle's media frames then play over the source's one to one)."""
    found = item.node.first("conform-rate")
    if found is not None and (found.get("scaleEnabled") == "0" or item.conformed):
        return [found]
    return []


def _copy(doc: Document, node: Node) -> str:
    return doc.data[node.start:node.end].decode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------- elements


def _clip_name(result: ResultClip) -> str:
    if result.kind == "restyle":
        return f"{result.clip.name or 'clip'} [{result.track_label}]"
    return result.clip.name or "B-roll"


def _note(result: ResultClip) -> list[str]:
    """"Kling O3 · film-noir · draft · job j1a2b3c4…": who made it, how, which job."""
    who = _MODELS.get(result.model) or (result.model or result.provider or "Kling bridge"
                                        ).replace("-", " ").capitalize()
    what = result.track_label if result.kind == "restyle" else "B-roll: " + _short(
        result.prompt or result.clip.name, 40)
    parts = [who, what]
    if result.draft:
        parts.append("draft")
    job = result.job_id if len(result.job_id) <= 12 else (  # ids start alike: keep the tail
        result.job_id[:4] + "…" + result.job_id[-6:])
    parts.append(f"job {job}")
    return [f"<note>{escape(' · '.join(parts))}</note>"]


def _short(text: str, size: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[:size - 1] + "…"


def _metadata(result: ResultClip) -> list[str]:
    """The full record, one ``md`` per field (FCP keeps clip metadata; no JSON blobs)."""
    record = {**result.provenance(), "path": result.path}
    lines = ["<metadata>"]
    for key, value in record.items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        lines.append(f'\t<md key="{MD_PREFIX}{key}" value="{escape(text)}"/>')
    lines.append("</metadata>")
    return lines
