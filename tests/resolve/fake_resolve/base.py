"""What every fake API object shares: ``hasattr`` always True, ``dir()`` truthful, version
gates, the upsell modal that blocks later calls; markers; Resolve's frame arithmetic."""

import math
from fractions import Fraction
from typing import Any, Dict, List  # noqa: F401

CLIP_COLOURS = ("Orange", "Apricot", "Yellow", "Lime", "Olive", "Green", "Teal", "Navy",
                "Blue", "Purple", "Violet", "Pink", "Tan", "Beige", "Brown", "Chocolate")
MARKER_COLOURS = ("Blue", "Cyan", "Green", "Yellow", "Red", "Pink", "Purple", "Fuchsia",
                  "Rose", "Lavender", "Sky", "Mint", "Lemon", "Sand", "Cocoa", "Cream")
GATES = {("Timeline", "GetSelectedClips"): (21, 0, 4),
         ("Resolve", "EXPORT_OTIO"): (18, 5, 0)}
EXPORT_CONSTANTS = {"EXPORT_AAF": 0, "EXPORT_DRT": 1, "EXPORT_EDL": 2, "EXPORT_FCP_7_XML": 3,
                    "EXPORT_FCPXML_1_8": 4, "EXPORT_FCPXML_1_9": 5, "EXPORT_FCPXML_1_10": 6,
                    "EXPORT_OTIO": 15, "EXPORT_NONE": 0, "EXPORT_AAF_NEW": 1,
                    "EXPORT_AAF_EXISTING": 2}


class Fabricated(object):
    """What Resolve's bridge hands back for a name it does not have: a do-nothing callable."""

    def __init__(self, app, owner, name):
        # type: (Any, str, str) -> None
        self.app, self.owner, self.name = app, owner, name

    def __call__(self, *args, **kwargs):
        # type: (Any, Any) -> None
        self.app.log("fabricated %s.%s" % (self.owner, self.name))
        return None


class ApiObject(object):
    kind = "Object"

    def __init__(self, app):
        # type: (Any) -> None
        object.__setattr__(self, "_app", app)

    def __getattribute__(self, name):
        # type: (str) -> Any
        if name[:1].isupper():
            app = object.__getattribute__(self, "_app")
            kind = object.__getattribute__(self, "kind")
            if not app.available(kind, name):
                return Fabricated(app, kind, name)
            if app.state.get("modal"):
                app.log("blocked by modal: %s.%s" % (kind, name))
                return Fabricated(app, kind, name)
            app.count("%s.%s" % (kind, name))
        return object.__getattribute__(self, name)

    def __getattr__(self, name):
        # type: (str) -> Any
        if name.startswith("_"):
            raise AttributeError(name)
        return Fabricated(object.__getattribute__(self, "_app"),
                          object.__getattribute__(self, "kind"), name)

    def __dir__(self):
        # type: () -> List[str]
        app = object.__getattribute__(self, "_app")
        kind = object.__getattribute__(self, "kind")
        names = set(n for n in dir(type(self)) if n[:1].isupper())
        return sorted(n for n in names if app.available(kind, n))

    def __eq__(self, other):
        # type: (Any) -> bool
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self):
        # type: () -> int
        return hash(self._key())

    def _key(self):
        # type: () -> Any
        return id(self)


def _add_marker(owner, frame, colour, name, note, duration, custom=""):
    # type: (Dict[str, Any], Any, str, str, str, Any, str) -> bool
    if colour not in MARKER_COLOURS:
        return False
    markers = owner.setdefault("markers", [])
    frame = int(frame)
    if any(m["frame"] == frame for m in markers):
        return False
    markers.append({"frame": frame, "color": colour, "name": name, "note": note,
                    "duration": max(1, int(duration)), "customData": custom or ""})
    return True


def _markers(owner):
    # type: (Dict[str, Any]) -> Dict[float, Dict[str, Any]]
    return dict((float(m["frame"]), dict((k, v) for k, v in m.items() if k != "frame"))
                for m in owner.get("markers", []))


def floor_frames(frames, media_rate, timeline_rate):
    # type: (int, Fraction, Fraction) -> int
    """Source frames -> timeline frames, floored (Resolve loses a frame on mixed rates)."""
    return math.floor(Fraction(frames) * timeline_rate / media_rate)
