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

from typing import Any, Dict, List  # noqa: F401

from .base import (CLIP_COLOURS, EXPORT_CONSTANTS, GATES, MARKER_COLOURS,
                   ApiObject, Fabricated, floor_frames)
from .media_pool import Folder, MediaPool, MediaPoolItem
from .timeline_api import Timeline, TimelineItem

# What the package re-exports from here (the fake's whole API surface).
__all__ = ["CLIP_COLOURS", "EXPORT_CONSTANTS", "GATES", "MARKER_COLOURS", "ApiObject", "Fabricated",
           "Folder", "MediaPool", "MediaPoolItem", "Project", "ProjectManager", "Resolve",
           "Timeline", "TimelineItem", "floor_frames"]

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


