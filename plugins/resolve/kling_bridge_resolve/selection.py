"""Which clips the editor means (pure).

Resolve had no selection API before 21.0.4, so the plugin takes the first rule that finds
something, in this order, and always says which rule it used:

1. ``selection`` -- the clips selected in the timeline (``Timeline.GetSelectedClips()``,
   Resolve 21.0.4 and later);
2. ``colour`` -- the clips painted with the configured clip colour (one of Resolve's 16);
3. ``in/out`` -- every video clip touching the timeline's In/Out range;
4. ``playhead`` -- the topmost video clip under the playhead.

A rule that exists but finds nothing falls through to the next, and the message says so
("nothing selected in the timeline; no clip has the clip colour Orange; ..."), so an editor
who expected their colour to be used learns why it was not.
"""

from typing import Callable, List, Optional, Sequence, Tuple  # noqa: F401 (type comments)

from .frames import frames_to_timecode
from .model import CLIP_COLOURS, Item, Refusal, TimelineFacts, clip_colour_name  # noqa: F401


class SelectionError(Refusal):
    """Nothing to work on; ``str()`` says what was tried and what to do."""


class Choice(object):
    """The rule used, the clips it found, the ones the bridge cannot restyle and why."""

    def __init__(self, rule, items, detail, skipped=None, tried=None):
        # type: (str, List[Item], str, Optional[List[Tuple[Item, str]]], Optional[List[str]]) -> None
        self.rule = rule
        self.items = items
        self.detail = detail
        self.skipped = skipped or []
        self.tried = tried or []

    def summary(self):
        # type: () -> str
        count = len(self.items)
        text = "Selection rule: %s -- %d clip%s" % (self.detail, count, "" if count == 1 else "s")
        if self.skipped:
            text += " (%d left out)" % len(self.skipped)
        return text


def _by_place(items):
    # type: (Sequence[Item]) -> List[Item]
    return sorted(items, key=lambda i: (i.start, i.track))


def mark_range(facts):
    # type: (TimelineFacts) -> Optional[Tuple[int, int]]
    """The In/Out marks as absolute frames [in, out) (Resolve's out mark is inclusive)."""
    marks = facts.marks
    if not marks or ("in" not in marks and "out" not in marks):
        return None
    start = int(marks.get("in", facts.start))
    end = int(marks["out"]) + 1 if "out" in marks else (facts.end or start + 1)
    if start < facts.start:
        # no absolute frame precedes the timeline start: this build answered relative to it
        start, end = start + facts.start, end + facts.start
    return (start, end) if end > start else None


def _plain_colour(item):
    # type: (Item) -> str
    return item.colour or ""


def _as_is(items):
    # type: (List[Item]) -> List[Item]
    return items


def under_playhead(facts, current_uid=None, complete=_as_is):
    # type: (TimelineFacts, Optional[str], Callable[[List[Item]], List[Item]]) -> Optional[Item]
    """The topmost clip under the playhead that plays a media file -- a title or adjustment
    clip laid over the shot is not what the editor means -- else the topmost item at all
    (so the refusal can name it). Resolve's own answer (``GetCurrentVideoItem``) is taken
    when it is such a clip."""
    current = facts.find(current_uid) if current_uid else None
    if current is not None and complete([current])[0].path:
        return current
    if facts.playhead is None:
        return current
    covering = complete(sorted((i for i in facts.video_items()
                                if i.start <= facts.playhead < i.end), key=lambda i: -i.track))
    playable = [i for i in covering if i.path and i.enabled]
    return (playable or covering)[0] if covering else current


def choose(facts, colour="", selected=None, current_uid=None, colour_of=_plain_colour,
           complete=_as_is):
    # type: (TimelineFacts, str, Optional[Sequence[str]], Optional[str], Callable[[Item], str], Callable[[List[Item]], List[Item]]) -> Choice
    """The first rule (see the module doc) that finds clips; SelectionError if none does.

    ``selected`` is what ``GetSelectedClips`` returned (None where Resolve lacks it).
    ``colour_of`` and ``complete`` read what an item's place does not say (its clip colour;
    its media file, in-point and state) only for the items a rule looks at -- each is a
    round trip to Resolve.
    """
    tried = []  # type: List[str]
    video = facts.video_items()
    if selected is not None:
        wanted = set(selected)
        picked = [i for i in video if i.uid in wanted]
        if picked:
            return _finish("selection", complete(picked), "selected in the timeline", tried)
        tried.append("nothing selected in the timeline")
    if colour:
        name = clip_colour_name(colour)
        if name is None:
            raise SelectionError(
                "the clip colour %r in your settings is not one Resolve has" % colour,
                "use one of: " + ", ".join(CLIP_COLOURS))
        picked = [i for i in video if colour_of(i).lower() == name.lower()]
        if picked:
            return _finish("colour", complete(picked), "clip colour %s" % name, tried)
        tried.append("no clip has the clip colour %s" % name)
    span = mark_range(facts)
    if span is not None:
        picked = [i for i in video if i.overlaps(span[0], span[1])]
        where = "In/Out %s-%s" % (frames_to_timecode(span[0], facts.rate, facts.drop),
                                  frames_to_timecode(span[1] - 1, facts.rate, facts.drop))
        if picked:
            return _finish("in/out", complete(picked), where, tried)
        tried.append("no clip between the %s marks" % where)
    item = under_playhead(facts, current_uid, complete)
    if item is not None:
        where = frames_to_timecode(facts.playhead, facts.rate, facts.drop) \
            if facts.playhead is not None else "the playhead"
        return _finish("playhead", [item], "topmost clip under the playhead (%s)" % where,
                       tried)
    tried.append("no clip under the playhead")
    raise SelectionError(
        "nothing to work on: " + "; ".join(tried),
        "select clips (Resolve 21.0.4+), paint them with your clip colour (%s), set In/Out "
        "marks around them, or park the playhead on one" % (colour or "none configured"))


def _finish(rule, picked, detail, tried):
    # type: (str, List[Item], str, List[str]) -> Choice
    usable = []  # type: List[Item]
    skipped = []  # type: List[Tuple[Item, str]]
    for item in _by_place(picked):
        if not item.enabled:
            skipped.append((item, "disabled in the timeline"))
        elif not item.path:
            skipped.append((item, "no media file (a title, generator, or compound clip)"))
        else:
            usable.append(item)
    if not usable:
        listed = "; ".join("%s: %s" % (i.describe(), why) for i, why in skipped[:5])
        raise SelectionError("the %s found only clips the bridge cannot restyle: %s"
                             % (detail, listed), "choose clips that play a media file")
    return Choice(rule, usable, detail, skipped, tried)
