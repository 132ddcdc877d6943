"""MediaPool, Folder and MediaPoolItem."""

import os
from typing import Any, Dict, List  # noqa: F401

from . import media as media_facts
from .base import CLIP_COLOURS, ApiObject, _add_marker, _markers

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


