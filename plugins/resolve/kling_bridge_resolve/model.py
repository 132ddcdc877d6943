"""What the plugin reads from Resolve, as plain data the pure modules work on.

``host`` turns Resolve's objects into these once per run; selection, marking, placement and
the dialog never touch a Resolve object (``handle`` rides along only so ``host`` can act on
the item it came from). Frames are Resolve's: absolute timeline frames (01:00:00:00 at 24
fps is 86400), ``end`` exclusive, source frames counted from the media file's first frame.
"""

from fractions import Fraction  # noqa: F401 (type comments)
from typing import Any, Dict, List, Optional  # noqa: F401 (type comments)

# The clip colours Resolve accepts (SetClipColor refuses any other name with a bare False).
CLIP_COLOURS = ("Orange", "Apricot", "Yellow", "Lime", "Olive", "Green", "Teal", "Navy",
                "Blue", "Purple", "Violet", "Pink", "Tan", "Beige", "Brown", "Chocolate")


def clip_colour_name(text):
    # type: (str) -> Optional[str]
    """The canonical spelling of a clip colour, or None when Resolve has no such colour."""
    wanted = str(text or "").strip().lower()
    for name in CLIP_COLOURS:
        if name.lower() == wanted:
            return name
    return None


class Refusal(Exception):
    """What the plugin cannot do, said for the Console: ``str()`` is the message and, when
    there is one, what to do. Host, selection and settings refusals share it, so ``main``
    prints each the same way."""

    def __init__(self, message, hint=""):
        # type: (str, str) -> None
        Exception.__init__(self, message)
        self.message = message
        self.hint = hint

    def __str__(self):
        # type: () -> str
        return self.message + ("\n  -> " + self.hint if self.hint else "")


class Item(object):
    """One timeline item on a video (or audio) track."""

    def __init__(self, uid, name, track, start, end, left_offset=0, path="", media_rate=None,
                 media_frames=None, media_start=0, colour="", enabled=True, kind="video",
                 takes=0, handle=None):
        # type: (str, str, int, int, int, int, str, Any, Optional[int], int, Optional[str], bool, str, int, Any) -> None
        self.uid = uid
        self.name = name
        self.track = track  # 1-based, as Resolve counts
        self.start = start
        self.end = end  # exclusive: start + duration
        self.left_offset = left_offset  # source in-point, media frames from the file's first
        self.path = path  # "" for titles, generators, compound clips
        self.media_rate = media_rate
        self.media_frames = media_frames
        self.media_start = media_start  # the media's start timecode in media frames
        self.colour = colour
        self.enabled = enabled
        self.kind = kind
        self.takes = takes
        self.handle = handle
        self.complete = True  # host reads media facts only when asked (False until then)

    @property
    def duration(self):
        # type: () -> int
        return self.end - self.start

    def overlaps(self, start, end):
        # type: (int, int) -> bool
        return self.start < end and start < self.end

    def describe(self):
        # type: () -> str
        return "%r on V%d" % (self.name, self.track)

    def __repr__(self):
        # type: () -> str
        return "Item(%r, V%d, %d-%d, %r)" % (self.name, self.track, self.start, self.end,
                                              self.uid)


class Marker(object):
    """A timeline marker: ``frame`` absolute, ``duration`` in frames (1 = a point marker)."""

    def __init__(self, frame, name="", note="", colour="", duration=1, custom=""):
        # type: (int, str, str, str, int, str) -> None
        self.frame = frame
        self.name = name
        self.note = note
        self.colour = colour
        self.duration = duration
        self.custom = custom


class TimelineFacts(object):
    """The current timeline: rate, start, size, tracks and what the editor pointed at."""

    def __init__(self, name, uid, rate, start, width=1920, height=1080, drop=False,
                 video_tracks=1, audio_tracks=0, items=None, playhead=None, marks=None,
                 markers=None, end=None):
        # type: (str, str, Fraction, int, int, int, bool, int, int, Optional[List[Item]], Optional[int], Optional[Dict[str, int]], Optional[List[Marker]], Optional[int]) -> None
        self.name = name
        self.uid = uid
        self.rate = rate
        self.start = start
        self.width = width
        self.height = height
        self.drop = drop
        self.video_tracks = video_tracks
        self.audio_tracks = audio_tracks
        self.items = items or []
        self.playhead = playhead
        self.marks = marks  # {"in": frame, "out": frame} (absolute, out inclusive) or None
        self.markers = markers or []
        self.end = end

    def video_items(self):
        # type: () -> List[Item]
        return [i for i in self.items if i.kind == "video"]

    def track_items(self, track, kind="video"):
        # type: (int, str) -> List[Item]
        return sorted((i for i in self.items if i.track == track and i.kind == kind),
                      key=lambda i: i.start)

    def find(self, uid):
        # type: (str) -> Optional[Item]
        for item in self.items:
            if item.uid == uid:
                return item
        return None
