"""Where results go on the timeline, and whether they got there (pure).

Resolve's placement calls cannot be trusted on their word: ``AppendToTimeline`` silently
drops a clip that would overlap another on its track (and may still hand back an item with
no id), and ``endFrame`` is exclusive. So each placement is planned here from what the
plugin read, carried out by ``host``, and then checked here against a fresh read of the
track: right track, right first frame, right length, right file. Anything else is reported.

B-roll prompts are markers whose note (or name) starts with ``kling:``, grouped the way
the daemon groups them (``kling_bridge.timeline.prompts``): prompt markers that *touch* (each
starts on the frame the previous one ends, both with a length) make one multi-shot clip, up
to 6 shots and 15 s, each shot its marker's length in whole timecode seconds (at least 1;
the last one longer when they round short). A ranged marker (or run) asks for its length
rounded up to whole seconds (3 to 15) and the clip ends where the marker ends; words that
start with a length ask for it (``kling: 4s rain``); a point marker asks for the default
length and gets the whole clip.
"""

import math
import re
from fractions import Fraction
from typing import Any, Dict, List, Optional, Sequence, Tuple  # noqa: F401 (type comments)

from .frames import exact_rate, media_count, on_timeline
from .model import Item, Marker, TimelineFacts  # noqa: F401

PROMPT_PREFIX = "kling:"
MIN_SECONDS, MAX_SECONDS = 3, 15
MARKER_COLOUR = "Purple"


def same_file(a, b):
    # type: (str, str) -> bool
    """Paths as Resolve and the daemon spell them (slashes, case on Windows) compared."""
    def norm(p):
        # type: (str) -> str
        p = str(p or "").replace("\\", "/")
        return p.lower() if len(p) > 1 and p[1] == ":" else p
    return bool(a) and norm(a) == norm(b)


def free_track(facts, start, end, lowest=1, kind="video"):
    # type: (TimelineFacts, int, int, int, str) -> Optional[int]
    """The lowest track number >= ``lowest`` with nothing on [start, end); None if none."""
    count = facts.video_tracks if kind == "video" else facts.audio_tracks
    for number in range(max(1, lowest), count + 1):
        if not any(i.overlaps(start, end) for i in facts.track_items(number, kind)):
            return number
    return None


def clip_info(start_frame, end_frame, track, record, media_type=1):
    # type: (int, int, int, int, int) -> Dict[str, Any]
    """``AppendToTimeline``'s clipInfo (``mediaPoolItem`` is added by host); end exclusive."""
    return {"startFrame": int(start_frame), "endFrame": int(end_frame),
            "mediaType": int(media_type), "trackIndex": int(track), "recordFrame": int(record)}


def check_clip(items, record, length, path, track, what):
    # type: (Sequence[Item], int, int, str, int, str) -> Optional[str]
    """None when ``items`` (a fresh read of the track) hold ``path`` at exactly
    [record, record + length); else what went wrong, in words an editor can act on."""
    for item in items:
        if item.start == record and same_file(item.path, path):
            if item.duration != length:
                return ("%s landed on track %d at frame %d but is %d frames long, not %d"
                        % (what, track, record, item.duration, length))
            return None
    blocking = [i for i in items if i.overlaps(record, record + length)]
    if blocking:
        return ("%s was not placed: track %d is taken there by %s (Resolve drops overlapping "
                "clips without a word)" % (what, track, ", ".join(i.describe() for i in blocking)))
    return "%s was not placed on track %d at frame %d (Resolve refused it)" % (what, track, record)


def check_take(before, after, path, takes_before):
    # type: (Item, Optional[Item], str, int) -> Optional[str]
    """None when the re-read item is where it was, with one more take, showing ``path``."""
    if after is None:
        return "%s is gone from the timeline" % before.describe()
    if (after.start, after.end, after.track) != (before.start, before.end, before.track):
        return ("%s moved or changed length while the take was added (now %d-%d)"
                % (before.describe(), after.start, after.end))
    if after.takes < max(2, takes_before + 1):
        return "Resolve did not add the take to %s" % before.describe()
    if not same_file(after.path, path):
        return "the new take of %s is not the one showing" % before.describe()
    return None


def cannot_place_on_track(item, rate):
    # type: (Item, Fraction) -> Optional[str]
    """Why a restyle of ``item`` could not sit on a track above it frame for frame, or None.

    Its media at another rate is laid down in whole media frames rounded down onto the
    timeline's grid; some lengths no whole number of media frames makes (23 frames of 24 fps
    media fill 23 frames of a 25 fps timeline, 24 fill 25: none fills 24). A take has no
    such limit (the item keeps its length), so the editor is told to use takes.
    """
    if not item.media_rate or exact_rate(item.media_rate) == rate:
        return None
    media_rate = exact_rate(item.media_rate)
    if on_timeline(media_count(item.duration, rate, media_rate), rate, media_rate) == \
            item.duration:
        return None
    return ("its media runs at %s fps on this %s fps timeline, and no whole number of its "
            "frames fills exactly %d timeline frames on a track (Resolve rounds them onto "
            "the timeline's frames): restyle it as a take (placement \"take\"), or trim it "
            "by a frame" % (_fps(media_rate), _fps(rate), item.duration))


def _fps(rate):
    # type: (Fraction) -> str
    return ("%.3f" % float(rate)).rstrip("0").rstrip(".")


def marker_custom(job_id, batch_id):
    # type: (str, str) -> str
    """The marker ``customData`` that ties a new item to its job (found again by Collect)."""
    return "kling-bridge job=%s batch=%s" % (job_id, batch_id)


class Prompt(object):
    """A B-roll to make: words (or shots), absolute frame, seconds to ask for, the marker's
    name, and ``span``: timeline frames it fills (None: the whole generated clip)."""

    def __init__(self, text, frame, seconds, name="", shots=None, span=None):
        # type: (str, int, int, str, Optional[List[Tuple[str, int]]], Optional[int]) -> None
        self.text = text
        self.frame = frame
        self.seconds = seconds
        self.name = name
        self.shots = shots or []  # [(words, seconds)] for a multi-shot clip
        self.span = span


MAX_SHOTS = 6
#: ``kling: 4s words`` / ``kling: 4 s: words`` / ``kling: 2.5 sec words``: a length asked.
ASKED = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b\s*[:,-]?\s*", re.I)


def prompt_text(marker, prefix=PROMPT_PREFIX):
    # type: (Marker, str) -> Optional[str]
    for text in (marker.note, marker.name):
        stripped = str(text or "").strip()
        if stripped.lower().startswith(prefix):
            return stripped[len(prefix):].strip() or None
    return None


class _Found(object):
    def __init__(self, marker, text, length, asked):
        # type: (Marker, str, int, Optional[float]) -> None
        self.marker = marker
        self.text = text
        self.length = length  # frames; 0 for a point marker (Resolve's duration 1)
        self.asked = asked

    def shot_seconds(self, nominal):
        # type: (int) -> int
        return max(1, round(Fraction(self.length, nominal)))


def _clamp(seconds):
    # type: (int) -> int
    return max(MIN_SECONDS, min(MAX_SECONDS, seconds))


def prompts(facts, default_seconds, prefix=PROMPT_PREFIX):
    # type: (TimelineFacts, int, str) -> List[Prompt]
    """One B-roll per ``kling:`` marker or run of touching ones, in timeline order."""
    nominal = max(1, round(float(facts.rate)))  # timecode seconds
    found = []  # type: List[_Found]
    for marker in sorted(facts.markers, key=lambda m: (m.frame, m.duration)):
        text = prompt_text(marker, prefix)
        if not text:
            continue
        asked = None
        match = ASKED.match(text)
        if match and text[match.end():].strip():
            asked, text = float(match.group(1)), text[match.end():].strip()
        found.append(_Found(marker, text, marker.duration if marker.duration > 1 else 0,
                            asked))
    groups = []  # type: List[List[_Found]]
    for this in found:
        last = groups[-1] if groups else None
        if (last and last[-1].length > 0 and this.length > 0
                and abs(this.marker.frame - (last[-1].marker.frame + last[-1].length)) <= 1
                and len(last) < MAX_SHOTS
                and sum(f.shot_seconds(nominal) for f in last) + this.shot_seconds(nominal)
                <= MAX_SECONDS):
            last.append(this)
        else:
            groups.append([this])
    return [_prompt_for(group, nominal, default_seconds) for group in groups]


def _prompt_for(group, nominal, default_seconds):
    # type: (List[_Found], int, int) -> Prompt
    first, last = group[0], group[-1]
    name = first.marker.name or first.text[:40]
    if name.lower().startswith(PROMPT_PREFIX):
        name = first.text[:40]
    if len(group) == 1 and first.asked is not None:
        span = round(Fraction(first.asked).limit_denominator(1000) * nominal)
    elif len(group) > 1 or first.length:
        span = last.marker.frame + last.length - first.marker.frame
    else:  # a point marker: the default length, the whole clip
        return Prompt(first.text, first.marker.frame, _clamp(default_seconds), name)
    span = max(1, min(MAX_SECONDS * nominal, span))
    needed = _clamp(math.ceil(Fraction(span, nominal)))
    if len(group) == 1:
        return Prompt(first.text, first.marker.frame, needed, name, span=span)
    shots = [(f.text, f.shot_seconds(nominal)) for f in group]
    total = sum(seconds for _text, seconds in shots)
    if total < needed:  # shots rounded down: the last one runs to the marker's end
        shots[-1] = (shots[-1][0], shots[-1][1] + needed - total)
        total = needed
    return Prompt(first.text, first.marker.frame, total, name, shots=shots, span=span)


def aspect_ratio(width, height):
    # type: (int, int) -> str
    """The generation aspect (Kling offers 16:9, 9:16 and 1:1) nearest the timeline's."""
    ratio = float(width) / float(height or 1)
    options = (("16:9", 16.0 / 9.0), ("9:16", 9.0 / 16.0), ("1:1", 1.0))
    return min(options, key=lambda o: abs(math.log(ratio / o[1])))[0]
