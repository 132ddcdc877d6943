"""Timeline and TimelineItem."""

import json
from fractions import Fraction
from typing import Any, Dict, List  # noqa: F401

from . import media as media_facts
from .base import CLIP_COLOURS, EXPORT_CONSTANTS, ApiObject, _add_marker, _markers
from .media_pool import MediaPoolItem
from .otio_export import timeline_document

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


