"""The scripting API's objects: Resolve, ProjectManager, Project, MediaPool, Folder,
MediaPoolItem, Timeline, TimelineItem -- the documented methods, with the measured quirks.

Every object is a thin view over the app's JSON state, so a "Resolve session" survives
between script runs (each Scripts-menu script is its own process). Quirks modelled:

- ``hasattr`` is always True: any missing name is a fabricated callable answering None
  (``dir()`` tells the truth, so capabilities must be probed with it);
- version gates: ``GetSelectedClips`` from 21.0.4, ``EXPORT_OTIO`` from 18.5;
- a modal (the free edition's upsell) makes every later call answer None;
- ``AppendToTimeline``: ``endFrame`` exclusive, source frames at the media's rate floored
  onto the timeline grid, overlapping clips dropped silently (the returned item then has
  no id and is not on the track);
- ``ImportMedia`` returns [] for a file the pool already holds or cannot read;
- ``GetSetting("timelineFrameRate")`` is rounded text; ``GetSourceStartFrame`` is a frame
  off for odd in-points (use ``GetLeftOffset``); ``SetClipColor`` takes only 16 names;
- ``Export`` takes only the live constant (a string writes nothing and answers False).
"""

import json
import math
import os
from fractions import Fraction
from typing import Any, Dict, List, Optional  # noqa: F401

from . import media as media_facts
from .otio_export import timeline_document

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


class Resolve(ApiObject):
    kind = "Resolve"

    def __init__(self, app):
        # type: (Any) -> None
        ApiObject.__init__(self, app)
        for name, value in EXPORT_CONSTANTS.items():
            object.__setattr__(self, name, value)

    def __dir__(self):
        # type: () -> List[str]
        app = self._app
        return sorted(ApiObject.__dir__(self) + [n for n in EXPORT_CONSTANTS
                                                 if app.available("Resolve", n)])

    def GetProductName(self):
        return self._app.state["product"]

    def GetVersion(self):
        return list(self._app.state["version"])

    def GetVersionString(self):
        return ".".join(str(v) for v in self._app.state["version"][:4])

    def GetProjectManager(self):
        return ProjectManager(self._app)

    def Fusion(self):
        return self._app.fusion

    def OpenPage(self, page):
        self._app.state["page"] = page
        return True

    def GetCurrentPage(self):
        return self._app.state.get("page", "edit")


class ProjectManager(ApiObject):
    kind = "ProjectManager"

    def GetCurrentProject(self):
        return Project(self._app) if self._app.state.get("project") else None


class Project(ApiObject):
    kind = "Project"

    def _p(self):
        return self._app.state["project"]

    def GetName(self):
        return self._p()["name"]

    def GetUniqueId(self):
        return self._p()["id"]

    def GetMediaPool(self):
        return MediaPool(self._app)

    def GetTimelineCount(self):
        return len(self._p()["timelines"])

    def GetTimelineByIndex(self, index):
        timelines = self._p()["timelines"]
        return Timeline(self._app, timelines[index - 1]["id"]) \
            if 1 <= index <= len(timelines) else None

    def GetCurrentTimeline(self):
        current = self._p().get("current")
        return Timeline(self._app, current) if current else None

    def SetCurrentTimeline(self, timeline):
        self._p()["current"] = timeline._id
        return True

    def GetSetting(self, key=None):
        settings = self._p()["settings"]
        return dict(settings) if not key else settings.get(key, "")

    def SetSetting(self, key, value):
        self._p()["settings"][key] = str(value)
        return True


class Folder(ApiObject):
    kind = "Folder"

    def __init__(self, app, folder_id):
        ApiObject.__init__(self, app)
        object.__setattr__(self, "_id", folder_id)

    def _key(self):
        return self._id

    def _f(self):
        return self._app.folder(self._id)

    def GetName(self):
        return self._f()["name"]

    def GetUniqueId(self):
        return self._id

    def GetClipList(self):
        return [MediaPoolItem(self._app, c) for c in self._f()["clips"]]

    def GetSubFolderList(self):
        return [Folder(self._app, f["id"]) for f in self._f()["folders"]]


class MediaPoolItem(ApiObject):
    kind = "MediaPoolItem"

    def __init__(self, app, media_id):
        ApiObject.__init__(self, app)
        object.__setattr__(self, "_id", media_id)

    def _key(self):
        return self._id

    def _m(self):
        return self._app.media(self._id)

    def GetName(self):
        return self._m()["name"]

    def GetUniqueId(self):
        return self._id

    def GetMediaId(self):
        return self._id

    def GetClipProperty(self, key=None):
        props = dict((k, v) for k, v in self._m()["props"].items() if not k.startswith("_"))
        return props if not key else props.get(key, "")

    def GetClipColor(self):
        return self._m().get("colour", "")

    def SetClipColor(self, name):
        if name not in CLIP_COLOURS:
            return False
        self._m()["colour"] = name
        return True

    def AddMarker(self, frame, colour, name, note, duration, custom=""):
        return _add_marker(self._m(), frame, colour, name, note, duration, custom)

    def GetMarkers(self):
        return _markers(self._m())


class MediaPool(ApiObject):
    kind = "MediaPool"

    def GetRootFolder(self):
        return Folder(self._app, self._app.state["project"]["root"]["id"])

    def GetCurrentFolder(self):
        return Folder(self._app, self._app.state["project"]["current_folder"])

    def SetCurrentFolder(self, folder):
        if not isinstance(folder, Folder):
            return False
        self._app.state["project"]["current_folder"] = folder._id
        return True

    def AddSubFolder(self, folder, name):
        parent = self._app.folder(folder._id)
        entry = {"id": self._app.new_id("folder"), "name": name, "clips": [], "folders": []}
        parent["folders"].append(entry)
        return Folder(self._app, entry["id"])

    def GetUniqueId(self):
        return "mediapool-1"

    def ImportMedia(self, paths):
        created = []
        folder = self._app.folder(self._app.state["project"]["current_folder"])
        for path in paths or []:
            if isinstance(path, dict):
                path = path.get("FilePath", "")
            if self._app.find_media(path) is not None:
                continue  # already in the pool: Resolve adds nothing and says nothing
            props = media_facts.probe(path)
            if props is None:
                continue
            entry = {"id": self._app.new_id("mpi"), "name": os.path.basename(path),
                     "props": props, "colour": "", "markers": []}
            self._app.state["project"]["media"][entry["id"]] = entry
            folder["clips"].append(entry["id"])
            created.append(MediaPoolItem(self._app, entry["id"]))
        return created

    def CreateEmptyTimeline(self, name):
        return self._app.new_timeline(name)

    def AppendToTimeline(self, *clips):
        if len(clips) == 1 and isinstance(clips[0], list):
            clips = tuple(clips[0])
        timeline = self._app.current_timeline()
        if timeline is None:
            return []
        out = []
        for clip in clips:
            info = clip if isinstance(clip, dict) else {"mediaPoolItem": clip}
            out.extend(self._app.append(timeline, info))
        return out


class Timeline(ApiObject):
    kind = "Timeline"

    def __init__(self, app, timeline_id):
        ApiObject.__init__(self, app)
        object.__setattr__(self, "_id", timeline_id)

    def _key(self):
        return self._id

    def _t(self):
        return self._app.timeline(self._id)

    def GetName(self):
        return self._t()["name"]

    def GetUniqueId(self):
        return self._id

    def GetStartFrame(self):
        return self._t()["start"]

    def GetEndFrame(self):
        t = self._t()
        return max([t["start"]] + [i["start"] + i["duration"] for k in ("video", "audio")
                                   for tr in t[k] for i in tr["items"]])

    def GetStartTimecode(self):
        t = self._t()
        return media_facts.frames_timecode(t["start"], Fraction(t["rate"]), t.get("drop", False))

    def GetSetting(self, key=None):
        t = self._t()
        values = {"timelineFrameRate": self._app.rate_text(t),
                  "timelineResolutionWidth": str(t["width"]),
                  "timelineResolutionHeight": str(t["height"]),
                  "timelineDropFrameTimecode": "1" if t.get("drop") else "0"}
        return values if not key else values.get(key, "")

    def GetTrackCount(self, kind):
        return len(self._t().get(kind, [])) if kind in ("video", "audio") else 0

    def GetTrackName(self, kind, index):
        tracks = self._t()[kind]
        return tracks[index - 1]["name"] if 1 <= index <= len(tracks) else ""

    def SetTrackName(self, kind, index, name):
        tracks = self._t()[kind]
        if not 1 <= index <= len(tracks):
            return False
        tracks[index - 1]["name"] = name
        return True

    def AddTrack(self, kind, options=None):
        if kind not in ("video", "audio"):
            return False
        tracks = self._t()[kind]
        label = "Video" if kind == "video" else "Audio"
        tracks.append({"name": "%s %d" % (label, len(tracks) + 1), "items": []})
        return True

    def GetItemListInTrack(self, kind, index):
        tracks = self._t().get(kind, [])
        if not 1 <= index <= len(tracks):
            return None
        items = sorted(tracks[index - 1]["items"], key=lambda i: i["start"])
        return [TimelineItem(self._app, i["id"]) for i in items]

    def GetSelectedClips(self):
        return [TimelineItem(self._app, i) for i in self._t().get("selected", [])
                if self._app.find_item(i) is not None]

    def GetCurrentTimecode(self):
        t = self._t()
        return media_facts.frames_timecode(t.get("playhead", t["start"]), Fraction(t["rate"]),
                                           t.get("drop", False))

    def SetCurrentTimecode(self, timecode):
        t = self._t()
        t["playhead"] = media_facts.timecode_frames(timecode, Fraction(t["rate"]))
        return True

    def GetCurrentVideoItem(self):
        t = self._t()
        playhead = t.get("playhead", t["start"])
        for track in reversed(t["video"]):
            for item in track["items"]:
                if item["start"] <= playhead < item["start"] + item["duration"]:
                    return TimelineItem(self._app, item["id"])
        return None

    def GetMarkInOut(self):
        marks = self._t().get("marks") or {}
        return {"video": dict(marks), "audio": dict(marks)} if marks else {}

    def SetMarkInOut(self, mark_in, mark_out, kind="all"):
        self._t()["marks"] = {"in": int(mark_in), "out": int(mark_out)}
        return True

    def ClearMarkInOut(self, kind="all"):
        self._t()["marks"] = {}
        return True

    def AddMarker(self, frame, colour, name, note, duration, custom=""):
        return _add_marker(self._t(), frame, colour, name, note, duration, custom)

    def GetMarkers(self):
        return _markers(self._t())

    def Export(self, path, kind, subtype=None):
        if not isinstance(kind, int) or kind != EXPORT_CONSTANTS["EXPORT_OTIO"] \
                or not self._app.available("Resolve", "EXPORT_OTIO"):
            return False
        override = self._t().get("export_override")
        document = override if override is not None else timeline_document(self._app,
                                                                            self._t())
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=4)
        return True


class TimelineItem(ApiObject):
    kind = "TimelineItem"

    def __init__(self, app, item_id):
        ApiObject.__init__(self, app)
        object.__setattr__(self, "_id", item_id)

    def _key(self):
        return self._id

    def _i(self):
        item = self._app.find_item(self._id)
        if item is None:  # a ghost from a dropped append: it answers, but nothing is there
            return {"id": "", "name": "", "start": 0, "duration": 0, "left": 0, "media": None,
                    "markers": [], "takes": [], "take": 0, "ghost": True}
        return item

    def GetName(self):
        return self._i()["name"]

    def GetUniqueId(self):
        return self._i()["id"]

    def GetStart(self, subframe=False):
        return self._i()["start"]

    def GetEnd(self, subframe=False):
        item = self._i()
        return item["start"] + item["duration"]

    def GetDuration(self, subframe=False):
        return self._i()["duration"]

    def GetLeftOffset(self, subframe=False):
        return self._i()["left"]

    def GetSourceStartFrame(self):
        left = self._i()["left"]
        return left - 1 if left % 2 else left  # measured: sometimes a frame off

    def GetMediaPoolItem(self):
        media = self._i().get("media")
        return MediaPoolItem(self._app, media) if media else None

    def GetTrackTypeAndIndex(self):
        return list(self._app.item_place(self._id) or ["video", 0])

    def GetClipColor(self):
        return self._i().get("colour", "")

    def SetClipColor(self, name):
        if name not in CLIP_COLOURS:
            return False
        self._i()["colour"] = name
        return True

    def GetClipEnabled(self):
        return bool(self._i().get("enabled", True))

    def SetClipEnabled(self, enabled):
        self._i()["enabled"] = bool(enabled)
        return True

    def AddMarker(self, frame, colour, name, note, duration, custom=""):
        return _add_marker(self._i(), frame, colour, name, note, duration, custom)

    def GetMarkers(self):
        return _markers(self._i())

    def GetMarkerByCustomData(self, custom):
        for marker in self._i().get("markers", []):
            if marker.get("customData") == custom:
                return dict((k, v) for k, v in marker.items() if k != "frame")
        return {}

    def AddTake(self, media, start=None, end=None):
        item = self._i()
        if item.get("ghost") or not isinstance(media, MediaPoolItem):
            return False
        if not item["takes"]:
            item["takes"] = [{"media": item["media"], "start": item["left"],
                              "end": item["left"] + self._app.source_length(item)}]
            item["take"] = 1
        frames = int(media._m()["props"]["Frames"])
        start = 0 if start is None else int(start)
        end = frames if end is None else int(end)  # exclusive
        if not 0 <= start < end <= frames:
            return False
        item["takes"].append({"media": media._id, "start": start, "end": end})
        return True

    def GetTakesCount(self):
        return len(self._i().get("takes", []))

    def GetSelectedTakeIndex(self):
        return self._i().get("take", 0)

    def GetTakeByIndex(self, index):
        takes = self._i().get("takes", [])
        if not 1 <= index <= len(takes):
            return None
        take = takes[index - 1]
        return {"startFrame": take["start"], "endFrame": take["end"],
                "mediaPoolItem": MediaPoolItem(self._app, take["media"])}

    def SelectTakeByIndex(self, index):
        item = self._i()
        takes = item.get("takes", [])
        if not 1 <= index <= len(takes):
            return False
        take = takes[index - 1]
        item["take"] = index
        item["media"] = take["media"]
        item["left"] = take["start"]
        # a take shorter than the item shortens it (its frames are all there is)
        media = self._app.media(take["media"])
        available = self._app.to_timeline(take["end"] - take["start"],
                                          Fraction(media["props"]["_rate"]),
                                          self._app.timeline_of(self._id))
        item["duration"] = min(item["duration"], available)
        return True

    def FinalizeTake(self):
        item = self._i()
        item["takes"] = []
        item["take"] = 0
        return True


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
