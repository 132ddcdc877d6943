"""Where and at what speed an FCPXML element plays: the records the walk in :mod:`.layout`
fills in (:class:`Item`, :class:`Media`, :class:`Layout`, all in exact seconds) and the rules
that say when a retimed element can be restyled (pure).

Kept apart from the walk so the time arithmetic (record time -> an anchor's local time ->
media time) and the speed rules can be read and checked on their own.

One speed change is frame-exact and so restyled: Final Cut's Automatic Speed between an
NTSC rate and its whole rate (``conform-rate srcFrameRate="29.97"`` in a 30p project, 23.98
in 24p, 59.94 in 60p...). Final Cut then plays the media frame for frame at the project's
rate (a 1001/1000 speed change): the element's ``start`` is in its media's time, its
``duration`` in the project's, and each project frame shows the next media frame. Such an
element is marked ``conformed``; the restyle of those media frames, written back with the
same ``conform-rate``, plays frame for frame over it. Other Automatic Speed changes (25 fps
media in a 24p project) stay refused: nothing here shows Final Cut plays them frame for
frame rather than sampling frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise

from kling_bridge.timeline.fcpxml.document import Node, named_rate, parse_time

#: Automatic Speed changes that play media frame for frame: an NTSC rate in a project at its
#: whole rate (29.97 in 30p) and back.
FRAME_FOR_FRAME = frozenset({Fraction(1001, 1000), Fraction(1000, 1001)})


@dataclass
class Media:
    """The file an element shows and the time in it (the asset's own clock) of its first
    frame."""

    asset: Node
    url: str | None
    time: Fraction
    rate: Fraction
    has_video: bool
    has_audio: bool


@dataclass
class Item:
    """One story element as it plays.

    ``start``/``duration`` are record seconds from the sequence's ``tcStart``; ``anchor`` is
    the primary-storyline element it hangs from (itself when it is one; an audition's active
    pick rather than the audition) and ``origin`` the (record, local) time pair that maps
    record time into the anchor's local time: ``local = origin[1] + (record - origin[0])``.
    ``local`` is the element's own local start (its ``start``); ``media_delta`` maps its
    local time to its media's time when that differs (``clip``, ``sync-clip``, ``mc-clip``).
    """

    node: Node
    lane: int
    start: Fraction
    duration: Fraction
    anchor: Node
    origin: tuple[Fraction, Fraction]
    local: Fraction
    kind: str  # video | audio | gap | transition | compound | generator | empty
    media: Media | None = None
    reason: str | None = None
    enabled: bool = True
    generator: str = ""
    media_delta: Fraction = Fraction(0)
    storyline: Node | None = None
    retime: Fraction | None = None  # constant speed of a retimed element (1 = none)
    inner: Layout | None = None  # a compound clip's own layout
    conformed: bool = False  # plays its media frame for frame at an NTSC <-> whole rate

    def anchor_offset(self, record: Fraction) -> Fraction:
        """``record`` (seconds from tcStart) in the anchor's local time."""
        return self.origin[1] + (record - self.origin[0])


@dataclass
class Layout:
    """Every element of one sequence (a project's or a compound clip's), as it plays."""

    sequence: Node
    rate: Fraction
    tc_start: Fraction
    drop_frame: bool | None
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def primary(self) -> list[Item]:
        """The primary storyline's elements (gaps included), in order."""
        return [i for i in self.items if i.lane == 0 and i.storyline is None
                and i.anchor is i.node and i.kind != "transition"]

    def top_lane(self) -> int:
        """The highest lane any element uses (0 when nothing is connected above)."""
        return max((i.lane for i in self.items), default=0)


def timing_reason(node: Node, rate: Fraction, item: Item | None) -> str | None:
    """Why a retimed element cannot be restyled as it stands (None when it plays at 1x, or
    frame for frame: see the module doc; only an element placed on its own, ``item``, is
    marked so -- media inside a clip or sync clip keeps the refusal)."""
    time_map = node.first("timeMap")
    if time_map is not None:
        points = []
        for point in time_map.all("timept"):
            try:
                points.append((parse_time(point.get("time") or "0s"),
                               parse_time(point.get("value") or "0s")))
            except ValueError:
                continue
        speeds = {(v2 - v1) / (t2 - t1) for (t1, v1), (t2, v2) in pairwise(points) if t2 != t1}
        if len(speeds) == 1:
            speed = speeds.pop()
            if item is not None:
                item.retime = speed
            if speed == 1:
                pass
            elif speed == 0:
                return "freeze frame (a hold in Final Cut's retiming): there is no motion to " \
                       "restyle"
            elif speed < 0:
                return (f"reversed (speed {_percent(speed)}%): render the reverse or reset the "
                        "speed (Modify > Retime > Reset Speed)")
            else:
                return (f"retimed (speed {_percent(speed)}%): render the speed change or reset "
                        "it (Modify > Retime > Reset Speed)")
        elif speeds:
            return ("retimed with a speed ramp or hold: render the speed change or reset it "
                    "(Modify > Retime > Reset Speed)")
    conform = node.first("conform-rate")
    if conform is not None and conform.get("scaleEnabled", "1") != "0":
        try:
            source = named_rate(conform.get("srcFrameRate") or "")
        except (ValueError, ZeroDivisionError):
            return None
        if source and source != rate:
            speed = rate / source
            if item is not None:
                item.retime = speed
                if speed in FRAME_FOR_FRAME:
                    item.conformed = True
                    return None
            return (f"Final Cut plays its {_rate_name(source)} fps media at {_rate_name(rate)} "
                    f"fps (Automatic Speed, {_percent(speed)}%): set the clip to Normal (100%) "
                    "speed (Modify > Retime > Normal) to restyle it, or restyle it in a "
                    f"{_rate_name(source)} fps project")
    return None


def _percent(speed: Fraction) -> str:
    return f"{float(speed) * 100:.4g}"


def _rate_name(rate: Fraction) -> str:
    return f"{float(rate):.2f}".rstrip("0").rstrip(".") if rate.denominator != 1 else str(
        rate.numerator)
